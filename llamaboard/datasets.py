"""The dataset list of the Train tab, read with the engine's own ``dataset_info.json`` parser.

A broken or missing file is an error the user sees with its reason, never a
silently empty list (a common LLaMA-Factory complaint). Only the datasets the
chosen stage can train on are offered: preference pairs (``ranking``) and
KTO sets (a ``kto_tag`` column) belong to their own stages, not to pt or sft.
"""

from pathlib import Path

from workflows.data.registry import read_dataset_info
from workflows.errors import DatasetError


def dataset_names(dataset_dir: Path, stage: str) -> list[str]:
    """Names in ``dataset_dir/dataset_info.json`` that ``stage`` trains on; raises DatasetError saying what is wrong."""
    if not dataset_dir.is_dir():
        raise DatasetError(f"The dataset folder {dataset_dir} does not exist.")
    registry = read_dataset_info(dataset_dir)
    if not registry:
        raise DatasetError(f"{dataset_dir / 'dataset_info.json'} registers no datasets.")
    usable = [name for name, entry in registry.items() if not entry.ranking and "kto_tag" not in entry.explicit_columns]
    if not usable:
        raise DatasetError(f"{dataset_dir / 'dataset_info.json'} registers no datasets for stage `{stage}` (only preference or KTO sets).")
    return usable
