"""The dataset list of the Train tab, read with the engine's own ``dataset_info.json`` parser.

A broken or missing file is an error the user sees with its reason, never a
silently empty list (a common LLaMA-Factory complaint). Only datasets that pt
and sft (the stages there are) train on are offered: preference pairs
(``ranking``) and KTO sets (a ``kto_tag`` column) belong to later stages.
"""

from pathlib import Path

from workflows.data.registry import DATASET_INFO, read_dataset_info
from workflows.errors import DatasetError


def dataset_names(dataset_dir: Path) -> list[str]:
    """Names in ``dataset_dir/dataset_info.json`` that pt and sft train on; raises DatasetError saying what is wrong."""
    if not dataset_dir.is_dir():
        raise DatasetError(f"The dataset folder {dataset_dir} does not exist.")
    registry = read_dataset_info(dataset_dir)
    if not registry:
        raise DatasetError(f"{dataset_dir / DATASET_INFO} registers no datasets.")
    usable = [name for name, entry in registry.items() if not entry.ranking and "kto_tag" not in entry.explicit_columns]
    if not usable:
        raise DatasetError(f"{dataset_dir / DATASET_INFO} registers only preference or KTO sets, which stages pt and sft cannot train on.")
    return usable
