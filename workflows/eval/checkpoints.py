"""Refuse adapters trained on another base model before anything is loaded or written.

PEFT loads an adapter onto any model whose layer shapes fit, so an adapter of
one model applied to a same-shaped sibling would silently give wrong scores;
with other shapes it fails deep inside torch. The base an adapter was trained
on is read from its run's ``run.yaml`` (ours, exact) or else from PEFT's
``adapter_config.json`` (``base_model_name_or_path``, a path or hub id as the
trainer saw it), and compared by name: the same id, the same folder, or the
same last path part (a hub id and its local download).
"""

from pathlib import Path
from typing import Optional

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError
from workflows.models.loader import adapter_paths
from workflows.run_dir import RUN_CONFIG_FILE, read_json, read_run_config


def trained_base(adapter: Path) -> Optional[str]:
    """The base model an adapter folder (a run directory or its checkpoint-N) was trained on, when recorded."""
    for folder in (adapter, adapter.parent):
        if (folder / RUN_CONFIG_FILE).is_file():
            recorded = read_run_config(folder).get("model_name_or_path")
            if recorded:
                return str(recorded)
    return (read_json(adapter / "adapter_config.json") or {}).get("base_model_name_or_path")


def same_model(recorded: str, model_name_or_path: str) -> bool:
    from workflows.models.loader import resolve_model_path

    if recorded == model_name_or_path:
        return True
    names = {Path(recorded.rstrip("/")).name, Path(model_name_or_path.rstrip("/")).name}
    if len(names) == 1:
        return True
    try:
        return Path(recorded).resolve() == Path(resolve_model_path(model_name_or_path)).resolve()
    except ModelError:
        return False


def check_adapters_match_base(model_args: ModelArgs) -> None:
    for adapter in adapter_paths(model_args):
        recorded = trained_base(Path(adapter))
        if recorded and not same_model(recorded, model_args.model_name_or_path):
            raise ModelError(
                f"Adapter `{adapter}` (adapter_name_or_path) was trained on `{recorded}`, but model_name_or_path is "
                f"`{model_args.model_name_or_path}`: set model_name_or_path to {recorded}, or pick a checkpoint of this model."
            )
