"""What every chat template promises, whichever way it renders.

A template turns a conversation into the exact text a model was trained on,
and splits that text into (prompt, answer) pieces so that training computes
the loss on the answers only. The split never changes the tokens: the whole
text is tokenized once and the token ids are cut at the character positions
where answers start and end, so the concatenated pieces are always exactly
``tokenizer(render(messages), add_special_tokens=False).input_ids``.
"""

import bisect
import logging
from abc import ABC, abstractmethod

from workflows.errors import DatasetError
from workflows.templates.tools import FunctionCall, read_function_calls

logger = logging.getLogger(__name__)

USER_SIDE = ("user", "observation")
ASSISTANT_SIDE = ("assistant", "function_call")


def split_conversation(messages: list[dict]) -> tuple[str | None, list[dict]]:
    """Return (system prompt or None, the turns after it), checking the turns alternate."""
    system = None
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        system, turns = turns[0]["content"], turns[1:]
    for index, message in enumerate(turns):
        expected = USER_SIDE if index % 2 == 0 else ASSISTANT_SIDE
        if message["role"] not in expected:
            raise DatasetError(
                f"message {index} has role {message['role']!r} but {' or '.join(map(repr, expected))} was expected: "
                "after an optional system message, user/observation and assistant/function_call turns must alternate"
            )
    return system, turns


class ChatTemplate(ABC):
    """A chat template bound to one tokenizer's special tokens.

    Subclasses implement ``_render_parts``; everything else (tokenising,
    splitting into training pairs, fixing the tokenizer) is shared.
    """

    name: str
    stop_words: list[str]
    replace_eos: bool = False
    efficient_eos: bool = False
    tool_style: str | None = None
    """How the model writes function calls (a key of ``TOOL_STYLES``); None: unknown, try the common ones."""

    @abstractmethod
    def _render_parts(self, system: str | None, turns: list[dict], tools: str | None, add_generation_prompt: bool) -> list[str]:
        """The rendered text cut into prompt, answer, prompt, answer, ... pieces.

        A trailing prompt piece follows the last answer only when the
        conversation ends on the user side or a generation prompt is asked for.
        """

    def render(self, messages: list[dict], tools: str | None = None, add_generation_prompt: bool = False) -> str:
        system, turns = split_conversation(messages)
        return "".join(self._render_parts(system, turns, tools, add_generation_prompt))

    def encode_multiturn(self, tokenizer, messages: list[dict], tools: str | None = None) -> list[tuple[list[int], list[int]]]:
        """One (prompt_ids, answer_ids) pair per assistant-side turn.

        Answers include the end-of-turn token(s) and whatever the template
        writes after them up to the next turn, as LLaMA-Factory does. Templates
        with ``efficient_eos`` (GLM, Falcon, Baichuan 2: their turns end with
        no token at all) get the tokenizer's eos appended to the last answer,
        as LLaMA-Factory does, so that the model learns to stop.
        """
        return self.encode_multiturn_batch(tokenizer, [(messages, tools)])[0]

    def encode_multiturn_batch(
        self, tokenizer, conversations: list[tuple[list[dict], str | None]]
    ) -> list[list[tuple[list[int], list[int]]]]:
        """``encode_multiturn`` of each (messages, tools), tokenised together: a fast tokenizer shares a batch among its threads."""
        grouped = tokenize_parts_batch(tokenizer, [self._training_parts(tokenizer, messages, tools) for messages, tools in conversations])
        return [list(zip(pieces[0::2], pieces[1::2])) for pieces in grouped]

    def _training_parts(self, tokenizer, messages: list[dict], tools: str | None) -> list[str]:
        system, turns = split_conversation(messages)
        if not turns or turns[-1]["role"] not in ASSISTANT_SIDE:
            raise DatasetError("a training conversation must end with an assistant or function_call turn")
        parts = self._render_parts(system, turns, tools, add_generation_prompt=False)
        if self.efficient_eos:
            parts[-1] += tokenizer.eos_token
        return parts

    def encode_prompt(self, tokenizer, messages: list[dict], tools: str | None = None) -> list[int]:
        """Token ids of the conversation followed by the generation prompt, for inference."""
        if not messages or messages[-1]["role"] not in USER_SIDE:
            raise DatasetError("a prompt to generate from must end with a user or observation turn")
        text = self.render(messages, tools, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def function_calls(self, answer: str) -> list[FunctionCall]:
        """The function calls a generated answer makes ([] for a plain answer)."""
        return read_function_calls(answer, self.tool_style)

    def fix_tokenizer(self, tokenizer) -> None:
        """Make eos the template's end-of-turn word and give the tokenizer a pad token.

        Generation stops at eos, so eos must be what ends an assistant turn
        (``<|im_end|>``, ``<|eot_id|>``...), not the end-of-document token.
        Stop words missing from the vocabulary are added as special tokens;
        the model's embeddings must then be resized.
        """
        if self.replace_eos and self.stop_words:
            _add_special_tokens(tokenizer, {"eos_token": self.stop_words[0]})
        if tokenizer.eos_token is None:
            _add_special_tokens(tokenizer, {"eos_token": "<|endoftext|>"})
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        vocab = tokenizer.get_vocab()
        missing = [word for word in self.stop_words if word not in vocab]
        if missing:
            _add_special_tokens(tokenizer, {"extra_special_tokens": missing}, replace_extra_special_tokens=False)


def _add_special_tokens(tokenizer, tokens: dict, **kwargs) -> None:
    if tokenizer.add_special_tokens(tokens, **kwargs) > 0:
        logger.warning("added %s to the tokenizer: the model's embeddings must be resized", tokens)


TOKENIZE_BATCH = 1000
"""Texts per tokenizer call: enough for its threads to share, few enough that the offsets of a batch stay small."""


def tokenize_parts_batch(tokenizer, texts: list[list[str]]) -> list[list[list[int]]]:
    """For each text given as parts: the token ids of ``"".join(parts)``, grouped by the part each token starts in.

    A token that straddles a boundary belongs to the part it starts in. Slow
    tokenizers have no offsets; there each part is tokenized on its own, as
    LLaMA-Factory does, which may differ from tokenizing the whole text.
    """
    if not getattr(tokenizer, "is_fast", False):
        return [[tokenizer(part, add_special_tokens=False)["input_ids"] for part in parts] for parts in texts]
    grouped = []
    for first in range(0, len(texts), TOKENIZE_BATCH):
        batch = texts[first : first + TOKENIZE_BATCH]
        encodings = tokenizer(["".join(parts) for parts in batch], add_special_tokens=False, return_offsets_mapping=True)
        grouped.extend(map(_cut_at_parts, encodings["input_ids"], encodings["offset_mapping"], batch))
    return grouped


def _cut_at_parts(ids: list[int], offsets: list[tuple[int, int]], parts: list[str]) -> list[list[int]]:
    """``ids`` cut where the parts meet: before the first token that starts at or after each part's end."""
    starts = [start for start, _end in offsets]
    cuts, part_end = [0], 0
    for part in parts[:-1]:
        part_end += len(part)
        cuts.append(bisect.bisect_left(starts, part_end, lo=cuts[-1]))
    cuts.append(len(ids))
    return [ids[begin:end] for begin, end in zip(cuts, cuts[1:])]
