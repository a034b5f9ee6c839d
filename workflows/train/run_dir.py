"""The run directory: the only interface between a training job and the UI.

Files and their meaning are listed in DESIGN.md. Writes are atomic (write a
temporary file, then rename) so a reader never sees half a `status.json`.
"""

import json
import os
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from workflows.errors import ConfigError

STATUS_FILE = "status.json"
TRAINER_LOG_FILE = "trainer_log.jsonl"
RUNNING_LOG_FILE = "running_log.txt"
RUN_CONFIG_FILE = "run.yaml"
PROVENANCE_FILE = "provenance.json"
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(temporary, path)


def read_status(run_dir: Path) -> Optional[dict]:
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """checkpoint-N folders, oldest step first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in run_dir.iterdir() if path.is_dir() and (match := CHECKPOINT_PATTERN.match(path.name))]
    return [path for _, path in sorted(found)]


def checkpoint_step(checkpoint: Path) -> int:
    match = CHECKPOINT_PATTERN.match(Path(checkpoint).name)
    if not match:
        raise ConfigError(f"`resume_from_checkpoint: {checkpoint}` is not a checkpoint-N folder.")
    return int(match.group(1))


class RunDirectory:
    """Owns the files of one run; only the main process (rank 0) writes them."""

    def __init__(self, path: Path, is_main_process: bool = True):
        self.path = Path(path)
        self.is_main_process = is_main_process
        self._status: dict[str, Any] = {}

    @property
    def trainer_log_path(self) -> Path:
        return self.path / TRAINER_LOG_FILE

    @property
    def running_log_path(self) -> Path:
        return self.path / RUNNING_LOG_FILE

    def check_writable(self, overwrite: bool, resuming: bool) -> None:
        """Refuse to mix a new run into a finished or running one by accident."""
        status = read_status(self.path)
        if status is None or resuming or not self.is_main_process:  # other ranks see rank 0's fresh status
            return
        if status.get("state") == "running" and pid_alive(status.get("pid")):
            raise ConfigError(
                f"`output_dir: {self.path}` holds a run that is still going (pid {status['pid']}). "
                "Choose another output_dir or abort that run first."
            )
        if not overwrite and (list_checkpoints(self.path) or status.get("state") == "finished"):
            raise ConfigError(
                f"`output_dir: {self.path}` already holds a {status.get('state')} run. Choose a new output_dir, "
                "set `resume_from_checkpoint: true` to continue it, or `overwrite_output_dir: true` to replace it."
            )

    def start(self, command: list[str], fresh: bool) -> None:
        """Mark the run as running; a fresh (not resumed) run first clears an overwritten run's curve and checkpoints."""
        if not self.is_main_process:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.trainer_log_path.unlink(missing_ok=True)
            for checkpoint in list_checkpoints(self.path):
                shutil.rmtree(checkpoint)
        self._status = {
            "state": "running",
            "pid": os.getpid(),
            "start_time": now_iso(),
            "end_time": None,
            "exit_code": None,
            "error": None,
            "command": command,
        }
        write_json_atomic(self.path / STATUS_FILE, self._status)

    def finish(self, state: str, exit_code: int, error: Optional[str] = None) -> None:
        if not self.is_main_process:
            return
        self._status.update(state=state, end_time=now_iso(), exit_code=exit_code, error=error)
        write_json_atomic(self.path / STATUS_FILE, self._status)

    def truncate_trainer_log(self, last_step: int) -> None:
        """Drop log lines past the step a resumed run restarts from, so the curve stays continuous."""
        if not self.is_main_process or not self.trainer_log_path.is_file():
            return
        kept = [line for line in self.trainer_log_path.read_text(encoding="utf-8").splitlines() if _log_step(line) <= last_step]
        self.trainer_log_path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write_provenance(self, dataset_files: dict[str, str], features_fingerprint: str) -> None:
        if not self.is_main_process:
            return
        write_json_atomic(
            self.path / PROVENANCE_FILE,
            {
                "command": [sys.executable, *sys.argv],
                "created": now_iso(),
                "versions": package_versions(),
                "git_revision": _git_revision(),
                "dataset_files_sha256": dataset_files,
                "features_fingerprint": features_fingerprint,
            },
        )


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import workflows

    versions = {"python": sys.version.split()[0], "llamaboard": workflows.__version__}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers", "bitsandbytes"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _git_revision() -> Optional[str]:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def _log_step(line: str) -> int:
    try:
        return int(json.loads(line).get("current_steps", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0


def pid_alive(pid: Optional[int]) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as ended."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat_path = Path(f"/proc/{pid}/stat")
    try:
        return stat_path.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
