"""Save config / Load config: YAML files a user keeps in the workdir's ``configs/`` folder.

Saving is confined: only ``.yaml``/``.yml`` files inside ``configs/`` (never
``saves/queue.json``, ``data/dataset_info.json`` or the app's own files), never
over an existing file unless the user ticked "replace", and with paths made
relative to the workdir so the file works from a checkout elsewhere. Loading
reads any YAML inside the allowed roots. Errors are one line that names the
file as the user typed it, without the server's absolute paths.
"""

from pathlib import Path
from typing import Any

import yaml

from llamaboard.paths import PathNotAllowedError, Workspace, confine
from workflows.config import RunConfig, load_config
from workflows.errors import ConfigError, UserError

CONFIGS_DIR = "configs"
SUFFIXES = (".yaml", ".yml")
PATH_KEYS = ("model_name_or_path", "adapter_name_or_path", "dataset_dir", "output_dir", "cache_dir", "deepspeed", "task_dir")


def config_file(workspace: Workspace, typed: str) -> Path:
    """Where ``typed`` (``train.yaml`` or ``configs/train.yaml``) is saved: inside ``configs/`` and a YAML file."""
    folder = workspace.workdir / CONFIGS_DIR
    text = (typed or "").strip()
    relative = text[len(CONFIGS_DIR) + 1 :] if text.startswith(f"{CONFIGS_DIR}/") else text
    path = confine(relative, [folder.resolve()], "config file")
    if path.suffix not in SUFFIXES:
        raise PathNotAllowedError(f"The config file `{text}` must end in .yaml or .yml.")
    return path


def save_config(workspace: Workspace, typed: str, config: RunConfig, replace: bool) -> Path:
    path = config_file(workspace, typed)
    if path.exists() and not replace:
        raise ConfigError(f"`{typed}` exists already: tick “Replace an existing file” to overwrite it, or choose another name.")
    values = {key: _relative(value, workspace.workdir) if key in PATH_KEYS else value for key, value in config.to_flat_dict().items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Could not write `{typed}`: {error.strerror or error}.") from None
    return path


def read_config(workspace: Workspace, typed: str) -> RunConfig:
    path = confine(typed, list(workspace.roots), "config file")
    try:
        return load_config(path)
    except UserError as error:
        raise type(error)(str(error).replace(str(path), f"`{typed}`")) from None
    except OSError as error:
        raise ConfigError(f"Could not read `{typed}`: {error.strerror or error}.") from None


def _relative(value: Any, workdir: Path) -> Any:
    """Absolute paths inside the workdir become relative to it (comma-separated lists item by item)."""
    if not isinstance(value, str) or not value:
        return value
    parts = []
    for part in value.split(","):
        path = Path(part)
        parts.append(str(path.relative_to(workdir)) if path.is_absolute() and path.is_relative_to(workdir) else part)
    return ",".join(parts)
