"""Start, abort and describe jobs; each one is ``python -m workflows <kind> run.yaml``.

A job (train, eval, predict or export) is started detached (its own session
and process group, stdout/stderr appended to ``running_log.txt``), so it
keeps going when the browser or the UI process goes away. What was started is
recorded in the run directory's ``launch.json``; nothing is kept in memory.

The UI process starts a fork server (``workflows.forkserver``) where the
machine allows it; a job is then a fork of that server, with torch and
transformers already imported, and otherwise a plain subprocess. Both run the
same command, the one ``Launch.shell_command`` shows.
"""

import atexit
import os
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

from workflows.allocator import tuned_environment
from workflows.forkserver import ForkServer, available
from workflows.run_dir import (
    JOB_KINDS,
    LAUNCH_FILE,
    RUN_CONFIG_FILE,
    RUNNING_LOG_FILE,
    STATUS_FILE,
    read_json,
    read_state,
    write_json_atomic,
)


@dataclass(frozen=True)
class Launch:
    """One job to start: its kind, run directory, ``key=value`` overrides and extra environment."""

    run_dir: Path
    overrides: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    kind: str = "train"

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}; expected one of {JOB_KINDS}")

    def args(self) -> list[str]:
        """What follows ``python -m workflows``."""
        return [self.kind, str(self.run_dir / RUN_CONFIG_FILE), *self.overrides]

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "workflows", *self.args()]

    def full_env(self) -> dict[str, str]:
        """The variables this launch sets on top of the UI's environment."""
        return {"LLAMABOARD_LOG_TO_STDOUT_ONLY": "1", **self.env}

    def shell_command(self, workdir: Path) -> str:
        """The exact command ``start`` runs, written as a shell line a user can paste."""
        assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.full_env().items())
        log = shlex.quote(str(self.run_dir / RUNNING_LOG_FILE))
        return f"cd {shlex.quote(str(workdir))} && {assignments} {shlex.join(self.argv())} >> {log} 2>&1"

    def to_json(self) -> dict:
        return {"kind": self.kind, "run_dir": str(self.run_dir), "overrides": list(self.overrides), "env": self.env}

    @classmethod
    def from_json(cls, data: dict) -> "Launch":
        return cls(Path(data["run_dir"]), tuple(data.get("overrides", ())), dict(data.get("env", {})), data.get("kind", "train"))


_fork_server: Optional[ForkServer] = None


def start_fork_server() -> None:
    """Start this process's fork server (on machines that allow it); ``start`` then forks jobs from it."""
    global _fork_server
    if _fork_server is None and available(dict(os.environ)):
        _fork_server = ForkServer()
        _fork_server.start()
        atexit.register(_fork_server.stop)


def fork_server() -> Optional[ForkServer]:
    """This process's fork server, when ``start_fork_server`` started one."""
    return _fork_server


def start(launch: Launch, workdir: Path) -> int:
    """Start the job detached and record it in ``launch.json``; returns its pid."""
    run_dir = launch.run_dir
    (run_dir / STATUS_FILE).unlink(missing_ok=True)  # a resumed run's old final state must not show as current
    log_path = run_dir / RUNNING_LOG_FILE
    with open(log_path, "ab") as log:
        log.write(f"\n[llamaboard] {datetime.now().isoformat(timespec='seconds')} {launch.shell_command(workdir)}\n".encode())
    env = tuned_environment({**os.environ, **launch.full_env()})  # the allocator training wants, set before the job starts
    pid = _fork_server.fork_job(launch.args(), workdir, env, log_path) if _fork_server else None
    forked = pid is not None
    if not forked:
        pid = _start_process(launch.argv(), workdir, env, log_path)
    record = {
        **launch.to_json(),
        "pid": pid,
        "command": launch.argv(),
        "forked": forked,
        "launched_at": datetime.now().isoformat(timespec="seconds"),
    }
    write_json_atomic(run_dir / LAUNCH_FILE, record)
    return pid


def _start_process(argv: list[str], workdir: Path, env: dict[str, str], log_path: Path) -> int:
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    # Reap the child when it exits, so its pid stops looking alive while this UI runs.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def abort(run_dir: Path) -> bool:
    """Send SIGTERM to the job's process group (the engine stops cleanly and writes `aborted`); False when not running.

    The group is the one ``start`` created, when its process is the job or an ancestor of it: for a job of
    several processes that process is the torchrun agent, which passes SIGTERM on once to every rank (each
    rank runs in a session of its own) and waits for their checkpoint. A job started elsewhere (a shell)
    gets SIGTERM in the group of the process named in ``status.json`` (under torchrun, rank 0, whose stop
    every rank follows at the next step).
    """
    state = read_state(run_dir)
    if not state.is_active or not state.pid:
        return False
    launched = (read_json(run_dir / LAUNCH_FILE) or {}).get("pid")
    pid = launched if launched and _is_ancestor_or_self(launched, state.pid) else state.pid
    try:
        group = os.getpgid(pid)
        if group == os.getpgrp():  # a job started from this UI's own shell: never signal ourselves
            os.kill(pid, signal.SIGTERM)
        else:
            os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _is_ancestor_or_self(ancestor: int, pid: int) -> bool:
    """True when ``pid`` is ``ancestor`` or one of its descendants (read from /proc; False where it cannot be read)."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
    return False
