"""The run directory: the only interface between a job (train, eval, predict, export) and the UI.

Every job is ``python -m workflows <kind> run.yaml`` writing into its own
folder under ``saves/``; this module is the only one that knows the folder's
layout and file names (listed in DESIGN.md). It is torch-free, so the UI reads
run directories with it, and the engine writes them through ``RunDirectory``.
Writes are atomic (temporary file, then rename): a reader never sees half a
``status.json``, and everything is read afresh, so a page refresh or an app
restart sees exactly what the last poll saw.
"""

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import yaml

from workflows.errors import ConfigError

RUN_CONFIG_FILE = "run.yaml"  # the full resolved config (written by the UI or the job)
STATUS_FILE = "status.json"  # kind, state, pid, times, exit code, one-line error (the job)
LAUNCH_FILE = "launch.json"  # pid and command of the process the UI started (covers the seconds before status.json)
LOCK_FILE = ".job.lock"  # flock held by the job's process for its whole life: one job per folder, resumes included
RESUMES_FILE = "resumes.jsonl"  # one line per resume (time, checkpoint, command); run.yaml stays the original run's config
TRAINER_LOG_FILE = "trainer_log.jsonl"  # progress rows every kind appends; training adds loss (LLaMA-Factory's name)
RUNNING_LOG_FILE = "running_log.txt"  # human-readable stdout/stderr
PROVENANCE_FILE = "provenance.json"
PREDICTIONS_FILE = "generated_predictions.jsonl"  # predict: {"prompt", "predict", "label"} per line (LLaMA-Factory's)
PREDICT_RESULTS_FILE = "predict_results.json"  # predict: averaged metrics, predict_bleu-4 ... (LLaMA-Factory's)
EVAL_RESULTS_FILE = "results.json"  # eval: accuracy per subject and category, and Average
EVAL_LOG_FILE = "results.log"  # eval: the printed score table (LLaMA-Factory's)
EVAL_ANSWERS_FILE = "benchmark_answers.jsonl"  # eval: {"subject", "index", "answer", "predict", "correct"} per question
EVAL_LOSS_FILE = "eval_results.json"  # eval without a task: eval_loss, perplexity (LLaMA-Factory's names)
PREDICT_SCORES_FILE = "predict_scores.jsonl"  # predict: line i holds the BLEU/ROUGE of line i of generated_predictions.jsonl
EXPORT_CHECK_FILE = "export_check.json"  # export: what the self-check compared and whether it passed
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
FINAL_MODEL_FILES = ("adapter_config.json", "adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")

JOB_KINDS = ("train", "eval", "predict", "export")
"""Every kind of job; a kind is also the `workflows` command that runs it."""
ACTIVE_STATES = ("starting", "running")
FINAL_STATES = ("finished", "failed", "aborted")


# ---- layout ----------------------------------------------------------------------------------


def model_folder_name(model: str) -> str:
    """The ``saves/<model>`` folder name: the model id's last part, with only safe characters."""
    name = Path(str(model).rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "model"


def job_folder(saves_dir: Path, kind: str, model: str, finetuning_type: str, name: str) -> Path:
    """Where a job of ``kind`` lives: training ``saves/<model>/<finetuning_type>/<name>``, as in
    LLaMA-Factory; every other kind ``saves/<model>/<kind>/<name>`` (exports keep their model in ``<name>/model``
    unless ``export_dir`` says otherwise)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {JOB_KINDS}")
    return Path(saves_dir) / model_folder_name(model) / (finetuning_type if kind == "train" else kind) / name


def default_job_name(kind: str) -> str:
    return f"{kind}_{datetime.now().strftime('%Y-%m-%d-%H-%M-%S')}"


# ---- reading ---------------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Readers polling ``path`` see the old or the new content, never half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """A JSON object from ``path``, or None when absent or half-written (the writer replaces it atomically soon)."""
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


@dataclass(frozen=True)
class RunState:
    """One of created, queued, starting, running, finished, failed, aborted; with the job's kind, pid and error."""

    state: str
    kind: str = "train"
    pid: Optional[int] = None
    error: Optional[str] = None
    start_time: Optional[str] = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


def read_state(run_dir: Path, queued_kind: Optional[str] = None) -> RunState:
    """The job's state from ``status.json``, checked against the process it names; ``launch.json`` before that.

    ``queued_kind`` is the kind of job the UI's queue holds for ``run_dir`` (None when it is not queued).
    """
    run_dir = Path(run_dir)
    status, launch = read_json(run_dir / STATUS_FILE), read_json(run_dir / LAUNCH_FILE)
    kind = (status or {}).get("kind") or queued_kind or (launch or {}).get("kind") or "train"
    if status is not None:
        state, pid = status.get("state", "failed"), status.get("pid")
        if state == "running" and not pid_alive(pid):
            error = f"The {kind} process ended without writing its final status: {last_log_error(run_dir) or 'see ' + RUNNING_LOG_FILE}"
            return RunState("failed", kind, pid, error, status.get("start_time"))
        return RunState(state, kind, pid, status.get("error"), status.get("start_time"))
    if queued_kind:
        return RunState("queued", kind)
    if launch is None:
        return RunState("created", kind)
    if pid_alive(launch.get("pid")):
        return RunState("starting", kind, launch.get("pid"), None, launch.get("launched_at"))
    error = f"The {kind} process exited before it started: {last_log_error(run_dir) or 'see ' + RUNNING_LOG_FILE}"
    return RunState("failed", kind, launch.get("pid"), error, launch.get("launched_at"))


CHECKPOINT_STATE_FILE = "trainer_state.json"  # transformers writes it last into a checkpoint: present and readable = complete


def last_log_error(run_dir: Path) -> Optional[str]:
    """The last line of ``running_log.txt`` that names an error (the cause, when the job could not record it)."""
    lines = [line.strip() for line in tail_text(Path(run_dir) / RUNNING_LOG_FILE).splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "Error" in line or "error:" in line), None)


def list_checkpoints(run_dir: Path, complete_only: bool = True) -> list[Path]:
    """``checkpoint-N`` folders, oldest step first; by default only complete ones.

    A checkpoint being written when the job was killed (or the disk filled up)
    lacks a readable ``trainer_state.json``: "the last checkpoint" never means it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in run_dir.iterdir() if path.is_dir() and (match := CHECKPOINT_PATTERN.match(path.name))]
    return [path for _, path in sorted(found) if not complete_only or checkpoint_complete(path)]


def checkpoint_complete(checkpoint: Path) -> bool:
    return read_json(Path(checkpoint) / CHECKPOINT_STATE_FILE) is not None


def checkpoint_step(checkpoint: Path) -> int:
    match = CHECKPOINT_PATTERN.match(Path(checkpoint).name)
    if not match:
        raise ConfigError(f"`resume_from_checkpoint: {checkpoint}` is not a checkpoint-N folder.")
    return int(match.group(1))


def has_final_model(run_dir: Path) -> bool:
    """True when a job finished writing an adapter or model into the run directory itself."""
    return any((Path(run_dir) / name).exists() for name in FINAL_MODEL_FILES)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The flat key -> value mapping of ``run.yaml`` (unvalidated: history must show even odd runs)."""
    try:
        loaded = yaml.safe_load((Path(run_dir) / RUN_CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def find_runs(folder: Path, max_depth: int = 3) -> list[Path]:
    """Job directories (holding a run.yaml) up to ``max_depth`` levels below ``folder``, newest first.

    The UI writes ``saves/<model>/<finetuning_type or kind>/<name>`` (depth 3); a CLI
    job may use any ``output_dir`` under saves/, such as ``saves/identity``.
    """
    run_yamls = [path for depth in range(1, max_depth + 1) for path in Path(folder).glob("*/" * depth + RUN_CONFIG_FILE) if path.is_file()]
    run_yamls.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return [path.parent for path in run_yamls]


def tail_text(path: Path, max_bytes: int = 16_384) -> str:
    """The last ``max_bytes`` of a text file, starting at a whole line."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    if size > max_bytes and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace")


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


# ---- writing (the job's side) ----------------------------------------------------------------


class RunDirectory:
    """Owns the files of one job; only the main process (rank 0) writes them."""

    def __init__(self, path: Path, kind: str = "train", is_main_process: bool = True):
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {JOB_KINDS}")
        self.path = Path(path)
        self.kind = kind
        self.is_main_process = is_main_process
        self._status: dict[str, Any] = {}
        self._lock = None  # the open lock file while this process owns the folder

    @property
    def trainer_log_path(self) -> Path:
        return self.path / TRAINER_LOG_FILE

    @property
    def running_log_path(self) -> Path:
        return self.path / RUNNING_LOG_FILE

    @property
    def config_path(self) -> Path:
        return self.path / RUN_CONFIG_FILE

    def check_writable(self, overwrite: bool, resuming: bool) -> None:
        """Take the folder's lock for this process, and refuse to mix a new job into a finished or running one by accident.

        The lock (an flock on ``.job.lock``, held until the process ends) is what
        stops a second job, or a resume, from writing into a folder whose job is
        still going, even when both start at the same moment.
        """
        if not self.is_main_process:  # other ranks write nothing; rank 0 holds the lock
            return
        self._take_lock()
        status = read_json(self.path / STATUS_FILE)
        if status is None or resuming:
            return
        if not overwrite and (list_checkpoints(self.path, complete_only=False) or status.get("state") == "finished"):
            self.release()
            raise ConfigError(
                f"`output_dir: {self.path}` already holds a {status.get('state')} {status.get('kind', 'train')} job. "
                "Choose a new output_dir, set `resume_from_checkpoint: true` to continue it, or `overwrite_output_dir: true` to replace it."
            )

    def _take_lock(self) -> None:
        import fcntl

        if self._lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 (held open for the life of the job)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            status = read_json(self.path / STATUS_FILE) or {}
            holder = f" (pid {status['pid']})" if status.get("pid") else ""
            raise ConfigError(
                f"`output_dir: {self.path}` holds a {status.get('kind', 'train')} job that is still going{holder}. "
                "Wait for it, abort it first, or choose another output_dir."
            ) from None
        self._lock = lock

    def release(self) -> None:
        """Let another job use the folder (the process ending does the same; an in-process caller may start the next job)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def start(self, command: list[str], fresh: bool) -> None:
        """Mark the job as running; a fresh (not resumed) job first clears an overwritten job's curve and checkpoints."""
        if not self.is_main_process:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.trainer_log_path.unlink(missing_ok=True)
            for checkpoint in list_checkpoints(self.path, complete_only=False):
                shutil.rmtree(checkpoint)
        self._status = {
            "kind": self.kind,
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
        """Write the final state; on a full disk, overwrite the existing file in place (its blocks are already there)."""
        if not self.is_main_process:
            return
        self._status.update(state=state, end_time=now_iso(), exit_code=exit_code, error=error)
        try:
            write_json_atomic(self.path / STATUS_FILE, self._status)
        except OSError:
            compact = json.dumps({key: self._status.get(key) for key in ("kind", "state", "pid", "start_time", "exit_code", "error")})
            with open(self.path / STATUS_FILE, "r+", encoding="utf-8") as handle:
                handle.write(compact)
                handle.truncate()
        finally:
            self.release()

    def record_resume(self, checkpoint: str, command: list[str]) -> None:
        """A resume is recorded beside the run, never over its ``run.yaml``."""
        if self.is_main_process:
            with (self.path / RESUMES_FILE).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"time": now_iso(), "checkpoint": checkpoint, "command": command}) + "\n")

    def append_progress(self, record: dict[str, Any]) -> None:
        """One row of ``trainer_log.jsonl``, flushed at once so the UI sees it on its next poll."""
        if self.is_main_process:
            with self.trainer_log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def truncate_trainer_log(self, last_step: int) -> None:
        """Drop log lines past the step a resumed run restarts from, so the curve stays continuous."""
        if not self.is_main_process or not self.trainer_log_path.is_file():
            return
        kept = [line for line in self.trainer_log_path.read_text(encoding="utf-8").splitlines() if _log_step(line) <= last_step]
        self.trainer_log_path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write_provenance(self, dataset_files: dict[str, str], features_fingerprint: Optional[str] = None, **extra: Any) -> None:
        if not self.is_main_process:
            return
        write_json_atomic(
            self.path / PROVENANCE_FILE,
            {
                "kind": self.kind,
                "command": [sys.executable, *sys.argv],
                "created": now_iso(),
                "versions": package_versions(),
                "git_revision": _git_revision(),
                "dataset_files_sha256": dataset_files,
                "features_fingerprint": features_fingerprint,
                **extra,
            },
        )

    def add_to_provenance(self, **fields: Any) -> None:
        """Record what is known only after training (provenance.json was written before the model loaded)."""
        provenance = read_json(self.path / PROVENANCE_FILE) if self.is_main_process else None
        if provenance is not None:
            write_json_atomic(self.path / PROVENANCE_FILE, {**provenance, **fields})


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

    root = Path(__file__).resolve().parents[1]
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
