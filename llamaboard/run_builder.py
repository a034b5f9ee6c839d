"""Form values -> a validated RunConfig, its job directory, its run.yaml text and its launch (any kind of job).

Preview, Save and Start all go through ``prepare_run``, so the YAML and the
command the preview shows are byte for byte what Start writes and runs.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llamaboard.devices import device_env
from llamaboard.launcher import Launch
from llamaboard.models import check_model
from llamaboard.paths import Workspace, validate_run_name
from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.run_dir import RUN_CONFIG_FILE, job_folder

PATH_KEYS = ("dataset_dir", "cache_dir", "deepspeed")


@dataclass(frozen=True)
class PreparedRun:
    config: RunConfig
    run_dir: Path
    yaml_text: str
    launch: Launch


def render_yaml(config: RunConfig) -> str:
    """The full config as the flat YAML the CLI reads (every key, so a run never depends on changed defaults)."""
    return yaml.safe_dump(config.to_flat_dict(), sort_keys=False, allow_unicode=True)


def confine_paths(values: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    """The values with every typed path resolved inside the allowed roots (raises PathNotAllowedError)."""
    confined = dict(values)
    confined["model_name_or_path"] = check_model(values.get("model_name_or_path") or "", list(workspace.roots))
    for key in PATH_KEYS:
        if values.get(key):
            confined[key] = str(workspace.confine(values[key], key))
    if values.get("adapter_name_or_path"):
        adapters = [str(workspace.confine(path, "adapter path")) for path in values["adapter_name_or_path"].split(",")]
        confined["adapter_name_or_path"] = ",".join(adapters)
    return confined


def prepare_run(values: dict[str, Any], run_name: str, devices: list[str], workspace: Workspace, kind: str = "train") -> PreparedRun:
    """Validate a tab's form for a job of ``kind``; raises ConfigError or PathNotAllowedError with a message for the user."""
    values = confine_paths(values, workspace)
    finetuning_type = values.get("finetuning_type") or "lora"
    run_dir = job_folder(workspace.saves_dir, kind, values["model_name_or_path"], finetuning_type, validate_run_name(run_name))
    config = RunConfig.from_flat_dict({**values, "output_dir": str(run_dir)}, source="the form")
    return PreparedRun(config, run_dir, render_yaml(config), Launch(run_dir, (), device_env(devices), kind))


def create_run_dir(prepared: PreparedRun) -> None:
    """Write run.yaml into a new run directory; a used run name is an error, never an overwrite."""
    if (prepared.run_dir / RUN_CONFIG_FILE).exists():
        raise ConfigError(
            f"A run named `{prepared.run_dir.name}` already exists in {prepared.run_dir.parent}: "
            "choose another run name, or resume that run from the history."
        )
    prepared.run_dir.mkdir(parents=True, exist_ok=True)
    (prepared.run_dir / RUN_CONFIG_FILE).write_text(prepared.yaml_text, encoding="utf-8")
