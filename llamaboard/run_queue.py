"""A persisted queue of jobs of every kind: one job runs at a time, the next starts when it ends.

The queue is the file ``saves/queue.json`` (guarded by an flock, so two
browser tabs or two UI processes agree), and a daemon thread in the UI process
advances it by polling the run directories: the queue moves on even when no
browser is connected.
"""

import fcntl
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from llamaboard import launcher
from llamaboard.launcher import Launch
from workflows.run_dir import RUNNING_LOG_FILE, find_runs, read_state, write_json_atomic

QUEUE_FILE = "queue.json"
LOCK_FILE = ".queue.lock"
logger = logging.getLogger(__name__)


class RunQueue:
    """The queue of one workdir; every method reads the files afresh (several processes may share them)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.saves_dir = workdir / "saves"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.saves_dir.mkdir(parents=True, exist_ok=True)
        with open(self.saves_dir / LOCK_FILE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def entries(self) -> list[Launch]:
        try:
            data = json.loads((self.saves_dir / QUEUE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [Launch.from_json(item) for item in data.get("queue", [])]

    def queued_kinds(self) -> dict[Path, str]:
        """Each queued job's run directory and kind."""
        return {entry.run_dir: entry.kind for entry in self.entries()}

    def _save(self, entries: list[Launch]) -> None:
        write_json_atomic(self.saves_dir / QUEUE_FILE, {"queue": [entry.to_json() for entry in entries]})

    def active_run(self) -> Optional[Path]:
        """The run directory whose job (of any kind) is starting or running now, if any."""
        return next((run_dir for run_dir in find_runs(self.saves_dir) if read_state(run_dir).is_active), None)

    def submit(self, launch: Launch) -> str:
        """Start now when nothing runs and nothing waits, else append; returns "started" or "queued"."""
        with self._locked():
            entries = self.entries()
            if entries or self.active_run() is not None:
                self._save(entries + [launch])
                return "queued"
            launcher.start(launch, self.workdir)
            return "started"

    def remove(self, run_dir: Path) -> bool:
        with self._locked():
            entries = self.entries()
            kept = [entry for entry in entries if entry.run_dir != run_dir]
            self._save(kept)
            return len(kept) != len(entries)

    def advance(self) -> Optional[Path]:
        """Start the first queued run when nothing is running; returns its run directory."""
        with self._locked():
            entries = self.entries()
            if not entries or self.active_run() is not None:
                return None
            launch, rest = entries[0], entries[1:]
            self._save(rest)
            try:
                launcher.start(launch, self.workdir)
            except OSError as error:
                with open(launch.run_dir / RUNNING_LOG_FILE, "a", encoding="utf-8") as log:
                    log.write(f"[llamaboard] could not start the queued run: {error}\n")
                return None
            return launch.run_dir


def run_queue_worker(queue: RunQueue, interval_s: float = 2.0) -> threading.Thread:
    """Advance ``queue`` every ``interval_s`` seconds in a daemon thread for the life of the UI process."""

    def loop() -> None:
        while True:
            time.sleep(interval_s)
            try:
                queue.advance()
            except OSError:
                logger.exception("advancing the run queue failed; retrying")

    thread = threading.Thread(target=loop, name="llamaboard-run-queue", daemon=True)
    thread.start()
    return thread
