"""Run one job (train, eval, predict, export) so that its run directory always ends truthful.

``run_job`` is the common frame of every ``workflows`` command that does heavy
work: it marks the job running in ``status.json``, copies the output into
``running_log.txt``, turns SIGTERM/SIGINT into a ``StopSignal`` the work polls
at safe points, and ends with ``finished``, ``aborted`` (stopped on request,
partial results kept) or ``failed`` (with the one-line error; the log and any
checkpoints kept). A user error exits 2, a bug 1 with its traceback in the log.
"""

import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from workflows.errors import UserError
from workflows.run_dir import RunDirectory

logger = logging.getLogger("workflows")
EXIT_CODES = {"finished": 0, "aborted": 143}


@dataclass(frozen=True)
class Outcome:
    """How the work ended: ``finished`` or ``aborted``, with an optional one-line note for status.json."""

    state: str
    note: Optional[str] = None


class StopSignal:
    """Remembers SIGTERM/SIGINT; the work checks ``received`` at safe points and stops cleanly.

    The handler only sets a flag; a second signal means "now" and raises
    KeyboardInterrupt. ``restore`` gives the signals back (jobs run in-process in tests).
    """

    def __init__(self) -> None:
        self.received: Optional[str] = None
        self._previous = {signum: signal.signal(signum, self._handle) for signum in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        logger.warning("%s received: stopping at the next safe point", self.received)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_job(run_dir: RunDirectory, argv: list[str], work: Callable[[StopSignal], Outcome], fresh: bool = True) -> int:
    """Run ``work`` as the job of ``run_dir``; returns the process exit code."""
    run_dir.start([sys.executable, "-m", "workflows", *argv], fresh=fresh)
    setup_logging(run_dir)
    logger.info("%s job in %s", run_dir.kind.capitalize(), run_dir.path.resolve())
    stop = StopSignal()
    try:
        outcome = work(stop)
    except UserError as error:
        logger.error("%s", error)
        run_dir.finish("failed", error.exit_code, str(error))
        return error.exit_code
    except KeyboardInterrupt:
        run_dir.finish("aborted", EXIT_CODES["aborted"], "Stopped at once (second signal); results may be partial.")
        return EXIT_CODES["aborted"]
    except Exception as error:  # a bug or an environment failure: keep the traceback in the log
        logger.error("%s failed:\n%s", run_dir.kind.capitalize(), traceback.format_exc())
        first_line = str(error).splitlines()[0] if str(error) else ""
        run_dir.finish("failed", 1, f"{type(error).__name__}: {first_line}".strip(": "))
        return 1
    finally:
        stop.restore()
    if outcome.state == "aborted":
        logger.warning("%s", outcome.note or f"Aborted by {stop.received}.")
    else:
        logger.info("%s finished: %s", run_dir.kind.capitalize(), run_dir.path.resolve())
    run_dir.finish(outcome.state, EXIT_CODES[outcome.state], outcome.note if outcome.state == "aborted" else None)
    return EXIT_CODES[outcome.state]


class ProgressLog:
    """Progress rows for jobs without a Trainer, in the trainer log's fields (the UI reads one format).

    ``update(done)`` appends ``current_steps``, ``total_steps``, ``percentage``,
    ``elapsed_time`` and ``remaining_time`` (plus any ``metrics``) to trainer_log.jsonl.
    """

    def __init__(self, run_dir: RunDirectory, total: int, unit: str = "example"):
        self.run_dir, self.total, self.unit = run_dir, max(int(total), 0), unit
        self.started = time.monotonic()

    def update(self, done: int, **metrics) -> dict:
        elapsed = time.monotonic() - self.started
        remaining = elapsed / done * (self.total - done) if done else 0.0
        record = {
            "current_steps": done,
            "total_steps": self.total,
            "percentage": round(100 * done / self.total, 2) if self.total else 100.0,
            "elapsed_time": duration(elapsed),
            "remaining_time": duration(remaining),
            "unit": self.unit,
            **metrics,
        }
        self.run_dir.append_progress(record)
        logger.info("%d/%d %ss, %s elapsed, %s left", done, self.total, self.unit, record["elapsed_time"], record["remaining_time"])
        return record


def duration(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


class _LogTee:
    """Copies a stream into running_log.txt; progress-bar redraws (\\r without \\n) stay on the terminal only."""

    def __init__(self, stream, log_file):
        self.stream, self.log_file = stream, log_file

    def write(self, text: str) -> int:
        self.stream.write(text)
        if "\r" not in text or text.endswith("\n"):
            self.log_file.write(text.rsplit("\r", 1)[-1])
            self.log_file.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def setup_logging(run_dir: RunDirectory) -> None:
    """Log to the terminal; on rank 0 also to running_log.txt unless the launcher already redirects there."""
    if run_dir.is_main_process and not os.environ.get("LLAMABOARD_LOG_TO_STDOUT_ONLY") and not isinstance(sys.stdout, _LogTee):
        log_file = run_dir.running_log_path.open("a", encoding="utf-8")
        sys.stdout = _LogTee(sys.stdout, log_file)
        sys.stderr = _LogTee(sys.stderr, log_file)
    logging.basicConfig(
        level=logging.INFO if run_dir.is_main_process else logging.WARNING,
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    import transformers  # every job uses it; its warnings go through our handlers, so they reach running_log.txt

    transformers.logging.set_verbosity_warning()
    transformers.logging.disable_default_handler()
    transformers.logging.enable_propagation()
