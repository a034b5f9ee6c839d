"""The dataset list of the Train tab, read straight from ``dataset_info.json``.

A broken or missing file is an error the user sees with its reason, never a
silently empty list (a common LLaMA-Factory complaint).
"""

import json
from pathlib import Path

from workflows.errors import DatasetError

DATASET_INFO = "dataset_info.json"


def dataset_names(dataset_dir: Path) -> list[str]:
    """Names registered in ``dataset_dir/dataset_info.json``; raises DatasetError saying what is wrong."""
    info_path = dataset_dir / DATASET_INFO
    if not dataset_dir.is_dir():
        raise DatasetError(f"The dataset folder {dataset_dir} does not exist.")
    try:
        registry = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{info_path} does not exist: a dataset folder needs a dataset_info.json naming its datasets.") from None
    except json.JSONDecodeError as error:
        raise DatasetError(f"{info_path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{info_path} is not UTF-8 text: {error.reason}.") from None
    if not isinstance(registry, dict):
        raise DatasetError(f"{info_path} must be a JSON object mapping dataset names to their description, not a {type(registry).__name__}.")
    if not registry:
        raise DatasetError(f"{info_path} registers no datasets.")
    return list(registry)
