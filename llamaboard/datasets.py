"""The dataset list of the Train tab, read with the engine's own ``dataset_info.json`` parser.

A broken or missing file is an error the user sees with its reason, never a
silently empty list (a common LLaMA-Factory complaint). Only the datasets the
chosen stage trains on are offered (the stage registry says which shape of
data each stage needs: preference pairs for rm/dpo, KTO labels for kto).
"""

from pathlib import Path

from workflows.errors import DatasetError


def dataset_names(dataset_dir: Path, stage: str = "sft") -> list[str]:
    """Names in ``dataset_dir/dataset_info.json`` that ``stage`` trains on; raises DatasetError saying what is wrong."""
    # imported here: the data package is first needed when a page loads, not while the app starts
    from workflows.data.registry import DATASET_INFO, read_dataset_info
    from workflows.data.stages import dataset_fits

    if not dataset_dir.is_dir():
        raise DatasetError(f"The dataset folder {dataset_dir} does not exist.")
    registry = read_dataset_info(dataset_dir)
    if not registry:
        raise DatasetError(f"{dataset_dir / DATASET_INFO} registers no datasets.")
    usable = [name for name, entry in registry.items() if dataset_fits(entry, stage)]
    if not usable:
        raise DatasetError(f"{dataset_dir / DATASET_INFO} registers no dataset that stage {stage} can train on.")
    return usable
