"""Read what a run directory says about its run: config, state, checkpoints, outputs.

The run directory is the only channel between the UI and a training job (see
DESIGN.md), so everything here reads files and keeps nothing in memory: a page
refresh or an app restart sees exactly what the last poll saw.

Files the UI writes itself: ``run.yaml`` (before launch) and ``launch.json``
(pid and command of the process it started), which covers the seconds before
the job writes its own ``status.json`` and the case where it dies before that.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from workflows.train.run_dir import CHECKPOINT_PATTERN, RUN_CONFIG_FILE, RUNNING_LOG_FILE, STATUS_FILE, TRAINER_LOG_FILE, pid_alive

RUN_YAML = RUN_CONFIG_FILE
STATUS_JSON = STATUS_FILE
LAUNCH_JSON = "launch.json"
TRAINER_LOG = TRAINER_LOG_FILE
RUNNING_LOG = RUNNING_LOG_FILE
ACTIVE_STATES = ("starting", "running")
FINAL_MODEL_FILES = ("adapter_config.json", "adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")


@dataclass(frozen=True)
class RunState:
    """One of created, queued, starting, running, finished, failed, aborted; with pid and error when known."""

    state: str
    pid: Optional[int] = None
    error: Optional[str] = None
    start_time: Optional[str] = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """A JSON object from ``path``, or None when absent or half-written (the writer replaces it atomically soon)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def read_state(run_dir: Path, queued: bool = False) -> RunState:
    """The run's state from ``status.json``, checked against the process it names."""
    status = read_json(run_dir / STATUS_JSON)
    if status is not None:
        state, pid = status.get("state", "failed"), status.get("pid")
        if state == "running" and not pid_alive(pid):
            return RunState(
                "failed", pid, "The training process ended without writing its final status; see running_log.txt.", status.get("start_time")
            )
        return RunState(state, pid, status.get("error"), status.get("start_time"))
    if queued:
        return RunState("queued")
    launch = read_json(run_dir / LAUNCH_JSON)
    if launch is None:
        return RunState("created")
    if pid_alive(launch.get("pid")):
        return RunState("starting", launch.get("pid"), None, launch.get("launched_at"))
    return RunState(
        "failed", launch.get("pid"), "The training process exited before it started; see running_log.txt.", launch.get("launched_at")
    )


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of every ``checkpoint-N`` folder, ascending."""
    if not run_dir.is_dir():
        return []
    steps = [int(match.group(1)) for child in run_dir.iterdir() if child.is_dir() and (match := CHECKPOINT_PATTERN.match(child.name))]
    return sorted(steps)


def has_final_model(run_dir: Path) -> bool:
    """True when training finished writing an adapter or model into the run directory itself."""
    return any((run_dir / name).exists() for name in FINAL_MODEL_FILES)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The flat key -> value mapping of ``run.yaml`` (unvalidated: history must show even odd runs)."""
    try:
        loaded = yaml.safe_load((run_dir / RUN_YAML).read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def find_runs(folder: Path, max_depth: int = 3) -> list[Path]:
    """Run directories (holding a run.yaml) up to ``max_depth`` levels below ``folder``, newest first.

    The UI writes ``saves/<model>/<finetuning_type>/<run>`` (depth 3); a CLI
    run may use any ``output_dir`` under saves/, such as ``saves/identity``.
    """
    run_yamls = [path for depth in range(1, max_depth + 1) for path in folder.glob("*/" * depth + RUN_YAML) if path.is_file()]
    run_yamls.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return [path.parent for path in run_yamls]


def tail_text(path: Path, max_bytes: int = 16_384) -> str:
    """The last ``max_bytes`` of a text file, starting at a whole line."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    if size > max_bytes and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace")
