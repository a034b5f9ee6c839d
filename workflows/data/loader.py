"""Load the examples of named datasets: registry -> reader -> converter -> sampling -> mixing.

A dataset that cannot be used as a whole (unknown name, hub-only, missing file,
bad JSON, missing column, wrong stage, no valid record) raises one DatasetError.
Single bad records are dropped, as LLaMA-Factory does, each with a warning
naming `<file>#<index>` and the reason, followed by a count per dataset.
"""

import dataclasses
import logging
from pathlib import Path
from typing import Any

from workflows.config.schema import DataArgs
from workflows.data.formats import RecordError, required_columns, to_conversation
from workflows.data.mixing import mix_examples, sample_examples
from workflows.data.readers import Record, data_files, read_records
from workflows.data.registry import DatasetAttr, select_datasets
from workflows.data.stages import check_stage, to_example
from workflows.errors import DatasetError
from workflows.stages import STAGES

logger = logging.getLogger(__name__)

LISTED_DROPS = 20  # per dataset; a broken large file should not flood the log


def load_examples(data_args: DataArgs, names: str | list[str], stage: str, seed: int = 42) -> list[dict]:
    """Examples of the named datasets (`a,b` or a list) for `stage`, sampled and mixed per `data_args`."""
    datasets = [_load_dataset(attr, data_args, stage, seed) for attr in select_datasets(data_args.dataset_dir, names)]
    return mix_examples(datasets, data_args.mix_strategy, data_args.interleave_probs, seed)


def dataset_files(data_args: DataArgs, names: str | list[str]) -> list[Path]:
    """The files behind the named datasets, for cache fingerprints and provenance."""
    return [file for attr in select_datasets(data_args.dataset_dir, names) for file in data_files(attr.path)]


def _load_dataset(attr: DatasetAttr, data_args: DataArgs, stage: str, seed: int) -> list[dict]:
    check_stage(attr, stage)
    records = read_records(attr.path, attr.dataset_dir)
    attr = _resolve_columns(attr, records, stage)
    placeholders = {"{{name}}": data_args.identity_name, "{{author}}": data_args.identity_author}

    examples, drops = [], []
    for record in records:
        try:
            example = to_example(to_conversation(record.value, attr, stage), stage, data_args.default_system)
        except RecordError as err:
            drops.append((record.source, str(err)))
            continue
        examples.append({**_fill_placeholders(example, placeholders), "source": record.source})

    if not records:
        raise DatasetError(f"Dataset `{attr.name}` ({attr.path}) holds no records.")
    if not examples:
        source, reason = drops[0]
        raise DatasetError(
            f"Dataset `{attr.name}` ({attr.path}) has no usable record for stage {stage}: all {len(records)} were dropped; "
            f"the first because {source}: {reason}."
        )
    _log_drops(attr, drops, len(records))
    return sample_examples(examples, attr.num_samples, data_args.max_samples, seed)


def _resolve_columns(attr: DatasetAttr, records: list[Record], stage: str) -> DatasetAttr:
    """Check that the columns the entry names exist in the file, and read pt text from a `text` column by default.

    A column counts as present when any record has it; records lacking a
    required one are dropped individually later.
    """
    present = {key for record in records if isinstance(record.value, dict) for key in record.value}
    if (
        STAGES[stage].data == "text"
        and "prompt" not in attr.explicit_columns
        and attr.columns.get("prompt") not in present
        and "text" in present
    ):
        attr = dataclasses.replace(attr, columns={**attr.columns, "prompt": "text"})
    for column in sorted(set(required_columns(attr, stage)) | attr.explicit_columns):
        key = attr.columns[column]
        if records and key not in present:
            raise DatasetError(
                f"{attr.where}: column `{key}` (columns.{column}) is not in {attr.file_name}; "
                f"its records have: {', '.join(sorted(present)) or 'no keys'}."
            )
    return attr


def _fill_placeholders(value: Any, placeholders: dict[str, str]) -> Any:
    """Identity datasets say `{{name}}` and `{{author}}`; every string gets the configured values."""
    if isinstance(value, str):
        for placeholder, filler in placeholders.items():
            value = value.replace(placeholder, filler)
        return value
    if isinstance(value, list):
        return [_fill_placeholders(item, placeholders) for item in value]
    if isinstance(value, dict):
        return {key: _fill_placeholders(item, placeholders) for key, item in value.items()}
    return value


def _log_drops(attr: DatasetAttr, drops: list[tuple[str, str]], total: int) -> None:
    for source, reason in drops[:LISTED_DROPS]:
        logger.warning("Dropped %s: %s.", source, reason)
    if drops:
        listed = f" (the first {LISTED_DROPS} are listed above)" if len(drops) > LISTED_DROPS else ""
        logger.warning("Dataset `%s`: dropped %d of %d records%s.", attr.name, len(drops), total, listed)
