"""Turn one raw record of an alpaca, sharegpt or openai file into a `Conversation`.

A Conversation is format-free: an optional system prompt, the turns with our
role names (user, assistant, observation, function_call), tools, and the
preference fields (chosen/rejected answers, kto_tag) when the entry has them.
Checking that the turns make a valid example for a stage is `stages.py`'s job;
here a record is rejected only when it cannot be read at all (a missing or
mistyped field, an unknown role tag), by raising `RecordError` with the reason.
"""

import itertools
import json
from dataclasses import dataclass
from typing import Any, Optional

from workflows.data.registry import DatasetAttr
from workflows.stages import STAGES

USER, ASSISTANT, OBSERVATION, FUNCTION_CALL, SYSTEM = "user", "assistant", "observation", "function_call", "system"


class RecordError(ValueError):
    """One record is unusable; the loader drops it and logs `<file>#<index>: <reason>`."""


@dataclass
class Conversation:
    system: Optional[str]
    turns: list[dict[str, str]]
    tools: Optional[str] = None
    chosen: Optional[dict[str, str]] = None
    rejected: Optional[dict[str, str]] = None
    kto_tag: Optional[bool] = None


def required_columns(attr: DatasetAttr, stage: str) -> list[str]:
    """Column keys (prompt, messages, chosen ...) every record of `attr` needs for `stage`."""
    if attr.formatting == "alpaca":
        required = ["prompt"] if STAGES[stage].data == "text" or attr.ranking else ["prompt", "response"]
    else:
        required = ["messages"]
    if attr.ranking:
        required += ["chosen", "rejected"]
    if STAGES[stage].data == "kto":
        required.append("kto_tag")
    return required


def to_conversation(record: Any, attr: DatasetAttr, stage: str) -> Conversation:
    """Read one record; raises RecordError naming the record key that is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"the record is {type(record).__name__}, not a JSON object")
    for column in required_columns(attr, stage):
        if record.get(attr.columns[column]) is None:
            raise RecordError(f"missing `{attr.columns[column]}` (columns.{column})")
    conversation = _READERS[attr.formatting](record, attr)
    conversation.tools = _tools(record, attr)
    if STAGES[stage].data == "kto":
        conversation.kto_tag = _kto_tag(record, attr)
    return conversation


def _alpaca(record: dict, attr: DatasetAttr) -> Conversation:
    """history pairs become earlier turns; instruction and input join into the last user turn."""
    turns = []
    for pair_index, pair in enumerate(_optional(record, attr, "history") or []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise RecordError(f"`{attr.columns['history']}` item {pair_index} is not an [instruction, response] pair")
        turns += [{"role": USER, "content": pair[0]}, {"role": ASSISTANT, "content": pair[1]}]

    parts = [_optional(record, attr, column) for column in ("prompt", "query")]
    for column, part in zip(("prompt", "query"), parts):
        if part is not None and not isinstance(part, str):
            raise RecordError(f"`{attr.columns[column]}` is {type(part).__name__}, not a string")
    turns.append({"role": USER, "content": "\n".join(part for part in parts if part)})

    response = _optional(record, attr, "response")
    if response is not None and not attr.ranking:
        turns.append({"role": ASSISTANT, "content": response})

    conversation = Conversation(system=_optional(record, attr, "system"), turns=turns)
    if attr.ranking:
        conversation.chosen = {"role": ASSISTANT, "content": record[attr.columns["chosen"]]}
        conversation.rejected = {"role": ASSISTANT, "content": record[attr.columns["rejected"]]}
    return conversation


def _sharegpt(record: dict, attr: DatasetAttr) -> Conversation:
    """A message list with role/content keys and role names from `tags`; a leading system turn wins over the system column."""
    messages = record[attr.columns["messages"]]
    if not isinstance(messages, list):
        raise RecordError(f"`{attr.columns['messages']}` is {type(messages).__name__}, not a list of messages")
    turns = [_message(message, attr, f"message {index}") for index, message in enumerate(messages)]
    misplaced = [index for index, turn in enumerate(turns) if turn["role"] == SYSTEM and index > 0]
    if misplaced:
        raise RecordError(f"message {misplaced[0]} is a system message; only the first message may be one")

    system = _optional(record, attr, "system")
    if turns and turns[0]["role"] == SYSTEM:
        system = turns.pop(0)["content"]
    if attr.formatting == "openai":
        turns = _merge_tool_results(turns)

    conversation = Conversation(system=system, turns=turns)
    if attr.ranking:
        conversation.chosen = _message(record[attr.columns["chosen"]], attr, "the chosen answer")
        conversation.rejected = _message(record[attr.columns["rejected"]], attr, "the rejected answer")
    return conversation


def _message(message: Any, attr: DatasetAttr, what: str) -> dict[str, Any]:
    """One sharegpt/openai message with our role name; an openai assistant turn with `tool_calls` becomes a function call."""
    role_tag, content_tag = attr.tags["role_tag"], attr.tags["content_tag"]
    if isinstance(message, str):  # a bare answer string in chosen/rejected
        return {"role": ASSISTANT, "content": message}
    if not isinstance(message, dict):
        raise RecordError(f"{what} is {type(message).__name__}, not an object with `{role_tag}` and `{content_tag}`")
    roles = {attr.tags[f"{name}_tag"]: role for name, role in _TAG_ROLES.items() if attr.tags.get(f"{name}_tag")}
    tag = message.get(role_tag)
    if tag not in roles:
        raise RecordError(f"{what} has unknown role tag `{tag}` under `{role_tag}` (expected one of {', '.join(roles)})")
    if message.get("tool_calls"):
        calls = [call.get("function", call) if isinstance(call, dict) else call for call in message["tool_calls"]]
        return {"role": FUNCTION_CALL, "content": json.dumps(calls, ensure_ascii=False)}
    return {"role": roles[tag], "content": message.get(content_tag)}


_TAG_ROLES = {"user": USER, "assistant": ASSISTANT, "observation": OBSERVATION, "function": FUNCTION_CALL, "system": SYSTEM}


def _merge_tool_results(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI files answer parallel tool calls with one `tool` message each; we keep one observation turn holding a JSON list."""
    merged: list[dict[str, Any]] = []
    for role, group in itertools.groupby(turns, key=lambda turn: turn["role"]):
        group = list(group)
        if role == OBSERVATION and len(group) > 1:
            merged.append({"role": OBSERVATION, "content": json.dumps([turn["content"] for turn in group], ensure_ascii=False)})
        else:
            merged.extend(group)
    return merged


def _optional(record: dict, attr: DatasetAttr, column: str) -> Any:
    """A column's value, or None when the entry does not map the column or the record lacks it."""
    key = attr.columns.get(column)
    return record.get(key) if key else None


def _tools(record: dict, attr: DatasetAttr) -> Optional[str]:
    """Tools as the JSON string templates expect; an empty string or list means no tools."""
    tools = _optional(record, attr, "tools")
    if isinstance(tools, (list, dict)):
        tools = json.dumps(tools, ensure_ascii=False) if tools else None
    if tools is not None and not isinstance(tools, str):
        raise RecordError(f"`{attr.columns['tools']}` is {type(tools).__name__}, not a JSON string or list of tools")
    return tools or None


def _kto_tag(record: dict, attr: DatasetAttr) -> bool:
    tag = record[attr.columns["kto_tag"]]
    if not isinstance(tag, bool):
        raise RecordError(f"`{attr.columns['kto_tag']}` (columns.kto_tag) is {tag!r}; it must be true or false")
    return tag


_READERS = {"alpaca": _alpaca, "sharegpt": _sharegpt, "openai": _sharegpt}
