"""The dataset registry: `<dataset_dir>/dataset_info.json` in LLaMA-Factory's format.

Each entry names a local file (or folder) and says how to read its records:
`formatting` (alpaca, sharegpt or openai), `columns` (which record keys hold the
prompt, messages, answers ...), `tags` (which message keys and role names a
sharegpt/openai file uses), `ranking` for preference pairs and `num_samples`.
LLaMA-Factory's own `dataset_info.json` parses unchanged; entries that point at
a hub, a cloud bucket or a loading script parse too, but cannot be loaded here,
which is said when such a dataset is selected, not when the registry is read.

The whole file is validated on reading, so a typo in any entry surfaces at
once as one DatasetError naming the file and the entry.
"""

import difflib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from workflows.errors import DatasetError

logger = logging.getLogger(__name__)

DATASET_INFO = "dataset_info.json"
FORMATTINGS = ("alpaca", "sharegpt", "openai")
REMOTE_SOURCES = {
    "hf_hub_url": "the Hugging Face hub",
    "ms_hub_url": "the ModelScope hub",
    "om_hub_url": "the Modelers hub",
    "cloud_file_name": "cloud storage",
    "script_url": "a dataset loading script",
}
MEDIA_COLUMNS = ("images", "videos", "audios")
COLUMN_KEYS = (
    "prompt",
    "query",
    "response",
    "history",
    "messages",
    "system",
    "tools",
    "chosen",
    "rejected",
    "kto_tag",
    *MEDIA_COLUMNS,
)
TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
ENTRY_KEYS = (
    "file_name",
    "formatting",
    "ranking",
    "subset",
    "split",
    "folder",
    "num_samples",
    "revision",
    "columns",
    "tags",
    *REMOTE_SOURCES,
)

# Column defaults as in LLaMA-Factory: alpaca reads instruction/input/output,
# sharegpt and openai read the message list from `conversations` / `messages`.
DEFAULT_COLUMNS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output"},
    "sharegpt": {"messages": "conversations"},
    "openai": {"messages": "messages"},
}
DEFAULT_TAGS = {
    "sharegpt": {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
        "system_tag": "system",
    },
    "openai": {
        "role_tag": "role",
        "content_tag": "content",
        "user_tag": "user",
        "assistant_tag": "assistant",
        "observation_tag": "tool",
        "function_tag": "function_call",
        "system_tag": "system",
    },
}


@dataclass(frozen=True)
class DatasetAttr:
    """One dataset_info.json entry, with LLaMA-Factory's defaults filled in.

    `columns` maps our column keys (prompt, messages, chosen ...) to the record
    keys of the file; `explicit_columns` are those the entry itself names, which
    must then exist in the file (a defaulted column may be absent).
    """

    name: str
    dataset_dir: Path
    file_name: Optional[str] = None
    formatting: Literal["alpaca", "sharegpt", "openai"] = "alpaca"
    ranking: bool = False
    num_samples: Optional[int] = None
    subset: Optional[str] = None
    split: str = "train"
    folder: Optional[str] = None
    remote: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    explicit_columns: frozenset[str] = frozenset()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Optional[Path]:
        """The local file or folder, when the entry has a `file_name`."""
        return self.dataset_dir / self.file_name if self.file_name else None

    @property
    def where(self) -> str:
        """How messages point at this entry: the registry file and the key."""
        return f"entry `{self.name}` of {self.dataset_dir / DATASET_INFO}"


def read_dataset_info(dataset_dir: str | Path) -> dict[str, DatasetAttr]:
    """Parse and validate `<dataset_dir>/dataset_info.json`; entries keep the file's order."""
    info_path = Path(dataset_dir) / DATASET_INFO
    if not info_path.is_file():
        raise DatasetError(f"{info_path} does not exist: set `dataset_dir` to the folder that holds {DATASET_INFO}.")
    try:
        raw = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{info_path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{info_path} is not UTF-8 text ({err.reason} at byte {err.start}): save it as UTF-8.") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{info_path} must hold a JSON object mapping dataset names to entries, not {_json_type(raw)}.")
    return {name: _parse_entry(name, entry, Path(dataset_dir)) for name, entry in raw.items()}


def _parse_entry(name: str, entry: Any, dataset_dir: Path) -> DatasetAttr:
    where = f"entry `{name}` of {dataset_dir / DATASET_INFO}"
    if not isinstance(entry, dict):
        raise DatasetError(f"{where} must be a JSON object, not {_json_type(entry)}.")
    _warn_unknown_keys(entry, ENTRY_KEYS, where)

    remote = {key: entry[key] for key in REMOTE_SOURCES if key in entry}
    if "file_name" not in entry and not remote:
        raise DatasetError(f"{where} names no data: add `file_name` (a file or folder inside {dataset_dir}).")

    formatting = entry.get("formatting", "alpaca")
    if formatting not in FORMATTINGS:
        raise DatasetError(f"{where}: unknown formatting `{formatting}`; use one of {', '.join(FORMATTINGS)}.")

    for key, expected in (("file_name", str), ("ranking", bool), ("num_samples", int)):
        if key in entry and not isinstance(entry[key], expected):
            raise DatasetError(f"{where}: `{key}` must be a {expected.__name__}, not {_json_type(entry[key])}.")
    if entry.get("num_samples") is not None and entry["num_samples"] < 1:
        raise DatasetError(f"{where}: `num_samples` must be at least 1.")

    given_columns = _string_mapping(entry, "columns", COLUMN_KEYS, where)
    given_tags = _string_mapping(entry, "tags", TAG_KEYS, where)
    return DatasetAttr(
        name=name,
        dataset_dir=dataset_dir,
        file_name=entry.get("file_name"),
        formatting=formatting,
        ranking=entry.get("ranking", False),
        num_samples=entry.get("num_samples"),
        subset=entry.get("subset"),
        split=entry.get("split", "train"),
        folder=entry.get("folder"),
        remote=remote,
        columns={**DEFAULT_COLUMNS[formatting], **given_columns},
        explicit_columns=frozenset(given_columns),
        tags={**DEFAULT_TAGS.get(formatting, {}), **given_tags},
    )


def _string_mapping(entry: dict, key: str, known: tuple[str, ...], where: str) -> dict[str, str]:
    """`columns` or `tags`: an object of known keys to strings (null means unset, as in LLaMA-Factory)."""
    mapping = entry.get(key, {})
    if not isinstance(mapping, dict):
        raise DatasetError(f"{where}: `{key}` must be a JSON object, not {_json_type(mapping)}.")
    _warn_unknown_keys(mapping, known, f"{where}, `{key}`")
    for sub_key, value in mapping.items():
        if value is not None and not isinstance(value, str):
            raise DatasetError(f"{where}: `{key}.{sub_key}` must be a string, not {_json_type(value)}.")
    return {sub_key: value for sub_key, value in mapping.items() if sub_key in known and value is not None}


def _warn_unknown_keys(mapping: dict, known: tuple[str, ...], where: str) -> None:
    """Unknown keys are ignored, like LLaMA-Factory does, but a likely typo is pointed out."""
    for key in mapping:
        if key not in known:
            nearest = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean `{nearest[0]}`?)" if nearest else ""
            logger.warning("%s: unknown key `%s` is ignored%s.", where, key, hint)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def select_datasets(dataset_dir: str | Path, names: str | list[str]) -> list[DatasetAttr]:
    """The entries for `a,b` (or a list of names), each checked to be loadable from local files."""
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",")]
    names = [name for name in names if name]
    if not names:
        raise DatasetError("No dataset selected: set `dataset` to one or more names from dataset_info.json.")
    registry = read_dataset_info(dataset_dir)
    selected = []
    for name in names:
        if name not in registry:
            nearest = difflib.get_close_matches(name, registry, n=1)
            hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
            raise DatasetError(f"Dataset `{name}` is not defined in {Path(dataset_dir) / DATASET_INFO}.{hint}")
        selected.append(_check_loadable(registry[name]))
    return selected


def _check_loadable(attr: DatasetAttr) -> DatasetAttr:
    if attr.file_name is None:
        key, url = next(iter(attr.remote.items()))
        raise DatasetError(
            f"Dataset `{attr.name}` comes from {REMOTE_SOURCES[key]} ({key} `{url}`), which this machine cannot reach: "
            f"download the file and add a `file_name` entry to {attr.dataset_dir / DATASET_INFO}, or pass a local file."
        )
    media = [column for column in MEDIA_COLUMNS if column in attr.columns]
    if media:
        raise DatasetError(
            f"Dataset `{attr.name}` has {'/'.join(media)} columns: images/videos/audios are not supported; choose a text-only dataset."
        )
    if not attr.path.exists():
        raise DatasetError(f"{attr.where} names `{attr.file_name}`, but {attr.path} does not exist.")
    return attr
