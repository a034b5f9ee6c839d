"""Shape a `Conversation` into the internal example a training stage consumes.

    pt          {"text": str}
    sft         {"messages": [...], "tools": str | None}
    rm/dpo      {"messages": [... prompt only], "chosen": {role, content}, "rejected": {...}, "tools": ...}
    kto         {"messages": [...], "tools": ..., "kto_tag": bool}

`messages` may open with one system message, then alternate user-side turns
(user, observation) with assistant-side turns (assistant, function_call),
starting with the user. Examples with answers end on an assistant-side turn; a
ranking prompt ends on a user-side turn. Anything else raises `RecordError`
with the precise reason, so the loader can drop the record and say why.
Whether a dataset suits a stage at all is `check_stage`'s DatasetError.
"""

from typing import Any, Optional

from workflows.data.formats import ASSISTANT, FUNCTION_CALL, OBSERVATION, SYSTEM, USER, Conversation, RecordError
from workflows.data.registry import DatasetAttr
from workflows.errors import DatasetError
from workflows.stages import STAGES

USER_SIDE = (USER, OBSERVATION)
ASSISTANT_SIDE = (ASSISTANT, FUNCTION_CALL)


def check_stage(attr: DatasetAttr, stage: str) -> None:
    """Each stage trains on one shape of data (the stage registry says which); anything else is a DatasetError."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {tuple(STAGES)}")
    problem = stage_mismatch(attr, stage)
    if problem:
        raise DatasetError(problem)


def dataset_fits(attr: DatasetAttr, stage: str) -> bool:
    """True when stage ``stage`` can train on the dataset ``attr`` (what the Train tab lists)."""
    return stage_mismatch(attr, stage) is None


def stage_mismatch(attr: DatasetAttr, stage: str) -> Optional[str]:
    """Why ``attr`` does not suit ``stage``, naming the fix; None when it does."""
    shape = STAGES[stage].data
    ranking_stages = " or ".join(name for name, spec in STAGES.items() if spec.data == "ranking")
    if shape == "ranking" and not attr.ranking:
        return (
            f"Dataset `{attr.name}` has no chosen/rejected pairs, which stage `{stage}` needs: pick a preference dataset, "
            f'or set "ranking": true and columns chosen/rejected in {attr.where}.'
        )
    if shape != "ranking" and attr.ranking:
        return f"Dataset `{attr.name}` holds chosen/rejected pairs (ranking): use it with stage {ranking_stages}, not `{stage}`."
    if shape == "kto" and "kto_tag" not in attr.columns:
        return f"Dataset `{attr.name}` has no `kto_tag` column, which stage {stage} needs: add columns.kto_tag to {attr.where}."
    if shape != "kto" and "kto_tag" in attr.columns:
        return (
            f"Dataset `{attr.name}` is a KTO dataset (columns.kto_tag; it holds undesirable answers too): "
            f"use it with stage kto, not `{stage}`."
        )
    return None


def to_example(conversation: Conversation, stage: str, default_system: Optional[str]) -> dict[str, Any]:
    """The example for `stage`; a record without its own system prompt gets `default_system`."""
    if STAGES[stage].data == "text":
        return {"text": _pretrain_text(conversation.turns)}

    ranking = STAGES[stage].data == "ranking"
    _check_turns(conversation.turns, ends_with_answer=not ranking)
    if conversation.system is not None and not isinstance(conversation.system, str):
        raise RecordError(f"the system prompt is {type(conversation.system).__name__}, not a string")
    system = conversation.system or default_system
    head = [{"role": SYSTEM, "content": system}] if system else []
    example: dict[str, Any] = {"messages": head + conversation.turns, "tools": conversation.tools}
    if ranking:
        example["chosen"] = _checked_answer(conversation.chosen, "chosen")
        example["rejected"] = _checked_answer(conversation.rejected, "rejected")
        if example["chosen"]["content"].strip() == example["rejected"]["content"].strip():
            raise RecordError("the chosen and rejected answers are identical, so the pair teaches no preference")
    if STAGES[stage].data == "kto":
        example["kto_tag"] = conversation.kto_tag
    return example


def _pretrain_text(turns: list[dict[str, Any]]) -> str:
    """Plain text for pt: a `text` line as it is; for instruction data, prompt and answers joined by newlines.

    LLaMA-Factory keeps only the first prompt here; we keep the answers too, so
    pre-training on an instruction file sees whole examples.
    """
    for index, turn in enumerate(turns):
        _check_content(turn, index)
    text = "\n".join(turn["content"] for turn in turns if turn["content"].strip())
    if not text:
        raise RecordError("empty text")
    return text


def _check_turns(turns: list[dict[str, Any]], ends_with_answer: bool) -> None:
    if not turns:
        raise RecordError("empty messages")
    if turns[0]["role"] != USER:
        raise RecordError(f"the conversation starts with `{turns[0]['role']}`; the first turn must be the user's")
    for index in range(1, len(turns)):
        side = ASSISTANT_SIDE if index % 2 else USER_SIDE
        if turns[index]["role"] not in side:
            raise RecordError(
                f"turn {index} is `{turns[index]['role']}` right after `{turns[index - 1]['role']}`; user-side "
                f"({', '.join(USER_SIDE)}) and assistant-side ({', '.join(ASSISTANT_SIDE)}) turns must alternate"
            )
    last = turns[-1]["role"]
    if ends_with_answer and last in USER_SIDE:
        raise RecordError(f"the conversation ends with a `{last}` turn (odd number of turns); the last turn must be the assistant's answer")
    if not ends_with_answer and last in ASSISTANT_SIDE:
        raise RecordError(
            f"the prompt ends with an `{last}` turn; in a ranking example it must end with the user's turn, "
            "the answers go in chosen/rejected"
        )
    for index, turn in enumerate(turns):
        _check_content(turn, index)
        if not turn["content"].strip():
            is_answer = ends_with_answer and index == len(turns) - 1
            raise RecordError("empty answer" if is_answer else f"turn {index} (`{turn['role']}`) is empty")


def _check_content(turn: dict[str, Any], index: int) -> None:
    if not isinstance(turn["content"], str):
        raise RecordError(f"turn {index} (`{turn['role']}`) content is {type(turn['content']).__name__}, not a string")


def _checked_answer(answer: dict[str, Any], which: str) -> dict[str, Any]:
    if answer["role"] not in ASSISTANT_SIDE:
        raise RecordError(f"the {which} answer has role `{answer['role']}`; it must be the assistant's")
    if not isinstance(answer["content"], str):
        raise RecordError(f"the {which} answer is {type(answer['content']).__name__}, not a string")
    if not answer["content"].strip():
        raise RecordError(f"empty {which} answer")
    return answer
