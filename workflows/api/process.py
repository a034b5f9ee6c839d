"""Start `python -m workflows api` as a child process and wait until it answers.

Tests, the latency benchmark and the UI's Chat tab all run the server this
way: a separate process whose end frees the model's memory. This module
imports neither torch nor the server, so the UI process stays light.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from workflows.errors import ModelError
from workflows.forkserver import ForkedProcess, ForkServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_api(
    overrides: list[str],
    port: int,
    env: dict | None = None,
    log: Path | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
    fork_server: ForkServer | None = None,
) -> subprocess.Popen | ForkedProcess:
    """The server for ``overrides`` on 127.0.0.1:``port``, returned once GET /v1/models answers (any status).

    It runs in ``cwd`` (the caller's folder by default), so relative paths in
    ``overrides`` mean what they mean there; the code comes from the install
    and that folder is kept off the module path (PYTHONSAFEPATH), so nothing in
    it can shadow a package. Its output goes to ``log`` (a temporary file by
    default), never to a pipe nobody reads, which would stall a long-running server. With a
    ``fork_server`` it is forked from it where it can be (torch and transformers already imported).
    """
    environment = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(port), "PYTHONSAFEPATH": "1", **(env or {})}
    log = log or Path(tempfile.mkdtemp(prefix="llamaboard-api-")) / "api.log"
    log.write_text("", encoding="utf-8")
    pid = fork_server.fork_job(["api", *overrides], Path(cwd or os.getcwd()), environment, log) if fork_server else None
    process = ForkedProcess(pid) if pid else _start_process(["api", *overrides], cwd, environment, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            code = "" if isinstance(process, ForkedProcess) else f" with code {process.returncode}"
            raise ModelError(f"The API server exited{code} while starting:\n{tail}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except urllib.error.HTTPError:
            return process  # it answers; a 401 only means an API key is set
        except OSError:
            time.sleep(0.3)
    stop_api(process)
    raise ModelError(f"The API server did not answer within {timeout:.0f} s.")


def _start_process(args: list[str], cwd: Path | None, environment: dict, log: Path) -> subprocess.Popen:
    with log.open("a", encoding="utf-8") as output:
        command = [sys.executable, "-m", "workflows", *args]
        return subprocess.Popen(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)


def stop_api(process: subprocess.Popen | ForkedProcess, timeout: float = 30) -> None:
    """End the server and wait, so its memory is back when this returns."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
