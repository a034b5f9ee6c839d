"""Time from process start to the first HTTP 200: `python app.py` against a bare Gradio app with one textbox.

    python bench/ui_startup.py [--repeats 3]

Prints each timing, the medians and their ratio (the target is at most 1.1x).
All servers run with the same environment (analytics off, a fresh free port,
an empty temporary workdir for LlamaBoard). LlamaBoard skips gradio's stub
writer (``llamaboard.gradio_stubs``), so a second bare app that skips it too
shows what the UI itself costs on top of gradio.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BARE_APP = "import gradio as gr\nwith gr.Blocks() as demo:\n    gr.Textbox()\ndemo.launch()\n"
NO_STUBS = "from llamaboard.gradio_stubs import skip_stub_writer\nskip_stub_writer()\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seconds_to_first_200(argv: list[str], workdir: Path, timeout_s: float = 120) -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "LLAMABOARD_WORKDIR": str(workdir)}
    env.pop("GRADIO_SHARE", None)
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"{argv} did not answer within {timeout_s}s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ui-startup-") as folder:
        workdir = Path(folder)
        (workdir / "bare_app.py").write_text(BARE_APP)
        (workdir / "bare_app_no_stubs.py").write_text(NO_STUBS + BARE_APP)
        commands = {
            "bare gradio": [sys.executable, str(workdir / "bare_app.py")],
            "bare, no stub writer": [sys.executable, str(workdir / "bare_app_no_stubs.py")],
            "llamaboard": [sys.executable, str(PROJECT_ROOT / "app.py")],
        }
        timings: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.repeats):  # alternate, so machine noise hits both alike
            for name, argv in commands.items():
                timings[name].append(seconds_to_first_200(argv, workdir))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        print(f"{name:20} " + "  ".join(f"{value:.2f}s" for value in values) + f"   median {medians[name]:.2f}s")
    print(f"ratio llamaboard / bare gradio: {medians['llamaboard'] / medians['bare gradio']:.2f}x (target <= 1.1x)")
    print(f"ratio llamaboard / bare gradio without its stub writer: {medians['llamaboard'] / medians['bare, no stub writer']:.2f}x")


if __name__ == "__main__":
    main()
