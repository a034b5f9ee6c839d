"""Read the records of a data file or folder, without interpreting them.

Supported: `.json` (a list of records), `.jsonl` (one record per line), `.csv`,
`.parquet`, and `.txt` (one `{"text": line}` record per non-empty line, as
LLaMA-Factory does). A folder reads every supported file in it, sorted by name.
JSON is parsed with the standard library so a syntax error is reported with
the file, line and column; a file that cannot be parsed fails as a whole.
Records that are not objects are kept as they are: the converter drops them
with a warning naming the file and index, like any other bad record.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.errors import DatasetError

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


@dataclass(frozen=True)
class Record:
    """One raw record and where it came from: `source` is `<file>#<index>`."""

    value: Any
    source: str


def data_files(path: Path) -> list[Path]:
    """The readable files behind a `file_name`: the file itself or the supported files of a folder."""
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.is_file() and child.suffix.lower() in SUFFIXES)
        if not files:
            raise DatasetError(f"Folder {path} holds no data files ({', '.join(SUFFIXES)}).")
        return files
    if path.suffix.lower() not in SUFFIXES:
        raise DatasetError(f"Cannot read {path}: unsupported file type `{path.suffix}`; use one of {', '.join(SUFFIXES)}.")
    return [path]


def read_records(path: Path, dataset_dir: Path) -> list[Record]:
    """All records of a file or folder; sources name files relative to `dataset_dir` when inside it."""
    records = []
    for file in data_files(path):
        label = file.relative_to(dataset_dir).as_posix() if file.is_relative_to(dataset_dir) else str(file)
        values = _READERS[file.suffix.lower()](file)
        records.extend(Record(value, f"{label}#{index}") for index, value in enumerate(values))
    return records


def _read_json(file: Path) -> list[Any]:
    values = _parse_json(_read_text(file), file)
    if not isinstance(values, list):
        raise DatasetError(f"{file} must hold a JSON list of records, not a {type(values).__name__}.")
    return values


def _read_jsonl(file: Path) -> list[Any]:
    return [_parse_json(line, file, line_number) for line_number, line in enumerate(_read_text(file).splitlines(), start=1) if line.strip()]


def _parse_json(text: str, file: Path, line_number: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        line = line_number if line_number is not None else err.lineno
        raise DatasetError(f"{file} is not valid JSON: {err.msg} at line {line}, column {err.colno}.") from None


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{file} is not UTF-8 text (byte {err.start}): save it as UTF-8.") from None


def _read_txt(file: Path) -> list[dict[str, str]]:
    return [{"text": line.strip()} for line in _read_text(file).splitlines() if line.strip()]


def _read_table(file: Path) -> list[dict[str, Any]]:
    """csv and parquet through pandas; missing cells become None, nested parquet values become lists/dicts."""
    import pandas as pd

    try:
        frame = pd.read_csv(file, keep_default_na=False, dtype=str) if file.suffix.lower() == ".csv" else pd.read_parquet(file)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DatasetError(f"Cannot read {file}: {err}") from None
    return [{key: _plain(value) for key, value in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """pandas hands back numpy arrays and NaN for parquet lists and nulls; records hold plain Python values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


_READERS = {".json": _read_json, ".jsonl": _read_jsonl, ".csv": _read_table, ".parquet": _read_table, ".txt": _read_txt}
