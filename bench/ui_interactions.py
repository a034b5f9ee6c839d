"""Seconds a person waits in the browser: page load, a stage change, the language switch, and a reload that restores the form.

    python bench/ui_interactions.py [--repeats 3]

Runs `python app.py` (fork server off: it would only compete for the CPU) and
drives Debian's chromium with Playwright, as the browser tests do. Each step
is timed until the page shows its result: the RLHF settings for stage dpo,
the Chinese Start button, and after a reload the restored language and stage.
The browser does most of this work, so the figures depend on the machine's
cores; compare runs made on one machine.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "ui"))

from browser_helpers import choose, open_page  # noqa: E402
from ui_startup import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHINESE_START = "() => document.querySelector('#start_button').innerText.trim() === '开始'"
RESTORED = (
    "() => { const start = document.querySelector('#start_button'), stage = document.querySelector('#train-field-stage input');"
    " return start && start.innerText.trim() === '开始' && stage && stage.value === 'dpo'; }"
)


def wait_until_saved(page, quiet_s: float = 2.0) -> None:
    """Until the browser's stored form has not changed for ``quiet_s`` (the last change reached localStorage)."""
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet_s:
        current = page.evaluate("() => localStorage.getItem('llamaboard-form')")
        if current != last:
            last, since = current, time.monotonic()
        time.sleep(0.25)


def timed(step) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started


def one_session(browser, url: str) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    seconds = {"page load": timed(lambda: open_page(page, url))}
    wait_until_saved(page)
    seconds["stage -> dpo"] = timed(
        lambda: (choose(page, "train-field-stage", "dpo"), page.wait_for_selector("#rlhf_accordion", state="visible"))
    )
    seconds["language -> 中文"] = timed(lambda: (choose(page, "lang", "中文"), page.wait_for_function(CHINESE_START)))
    wait_until_saved(page)
    seconds["reload + restore"] = timed(lambda: (page.reload(), page.wait_for_function(RESTORED)))
    page.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="ui-interactions-") as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for repeat in range(options.repeats):
            workdir = Path(folder) / f"run{repeat}"
            shutil.copytree(PROJECT_ROOT / "data", workdir / "data")
            port = free_port()
            env = {**os.environ, "LLAMABOARD_WORKDIR": str(workdir), "GRADIO_SERVER_PORT": str(port), "LLAMABOARD_FORK_SERVER": "0"}
            env["GRADIO_ANALYTICS_ENABLED"] = "False"
            app = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py")], cwd=workdir, env=env, stdout=subprocess.DEVNULL)
            try:
                wait_until_serving(port)
                runs.append(one_session(browser, f"http://127.0.0.1:{port}/"))
            finally:
                app.terminate()
                app.wait(timeout=10)
            print(f"run {repeat + 1}: " + ", ".join(f"{step} {value:.1f} s" for step, value in runs[-1].items()), flush=True)
        browser.close()
    print("median: " + ", ".join(f"{step} {statistics.median(run[step] for run in runs):.1f} s" for step in runs[0]))


def wait_until_serving(port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the app did not answer on port {port} within {timeout_s} s")


if __name__ == "__main__":
    main()
