"""A training subprocess stopped the way the UI's Abort stops it, shared by the tests of SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def abort_after_first_log(args: list[str], run_dir: Path, timeout_s: float = 120, exit_within_s: float = 60) -> float:
    """Run ``python -m workflows train ARGS`` in its own session and SIGTERM its group once it has logged a step.

    Returns the seconds from the signal to the process's exit.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "workflows", "train", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (run_dir / "trainer_log.jsonl").is_file():
            time.sleep(0.2)
        assert (run_dir / "trainer_log.jsonl").is_file(), "the run never logged a step"
        os.killpg(process.pid, signal.SIGTERM)
        sent = time.monotonic()
        process.wait(timeout=exit_within_s)
        return time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
