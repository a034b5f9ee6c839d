"""``template: auto``: render with the tokenizer's own Jinja chat template.

This is exactly what the model sees when it is served elsewhere (vLLM,
``apply_chat_template``), because it is transformers' own renderer. To train
on it, the rendered text is cut into prompt and answer pieces by finding each
assistant turn in it: its content, the generation header written before it,
and the end-of-turn token(s) written after it.
"""

import os
from functools import cached_property

from workflows.errors import ConfigError
from workflows.templates.base import ChatTemplate
from workflows.templates.tools import parse_function_calls, parse_tools

_PROBE = [{"role": "user", "content": "x"}]
_ANSWER_MARK = "ANSWER_MARK"


class JinjaTemplate(ChatTemplate):
    """A Jinja chat template plus the special tokens it is rendered with.

    ``template_kwargs`` are extra variables for the template (tests pin
    ``date_string``); ``enable_thinking=False`` is passed on to templates that
    read it (Qwen 3).
    """

    def __init__(
        self,
        chat_template: str,
        special_tokens: dict,
        tokenizer=None,
        enable_thinking: bool = True,
        template_kwargs: dict | None = None,
        name: str = "auto",
    ):
        self.name = name
        self.chat_template = chat_template
        self.template_kwargs = {**special_tokens, **(template_kwargs or {})}
        if not enable_thinking:
            self.template_kwargs["enable_thinking"] = False
        self.tokenizer = tokenizer
        self.special_tokens = special_tokens

    @cached_property
    def generation_header(self) -> str:
        """What add_generation_prompt adds after a user turn ("" for templates that add nothing)."""
        return self._render_hf(_PROBE, None, True).removeprefix(self._render_hf(_PROBE, None, False))

    @cached_property
    def end_of_turn_tokens(self) -> list[str]:
        return self._find_end_of_turn()

    @property
    def end_of_turn(self) -> str:
        return "".join(self.end_of_turn_tokens)

    @property
    def stop_words(self) -> list[str]:
        words = (*self.end_of_turn_tokens[:1], self.special_tokens.get("eos_token"))
        return list(dict.fromkeys(word for word in words if word))

    @property
    def replace_eos(self) -> bool:
        return bool(self.end_of_turn_tokens)

    def render(self, messages: list[dict], tools: str | None = None, add_generation_prompt: bool = False) -> str:
        return self._render_hf(_to_hf_messages(messages), tools, add_generation_prompt)

    def _render_hf(self, hf_messages: list[dict], tools: str | None, add_generation_prompt: bool) -> str:
        from jinja2 import TemplateError
        from transformers.utils.chat_template_utils import render_jinja_template

        try:
            rendered, _ = render_jinja_template(
                [hf_messages],
                tools=[{"type": "function", "function": tool} for tool in parse_tools(tools)] if tools else None,
                chat_template=self.chat_template,
                add_generation_prompt=add_generation_prompt,
                **self.template_kwargs,
            )
        except (TemplateError, TypeError) as error:  # templates raise TypeError on input they cannot iterate
            raise ConfigError(
                f"template {self.name!r} (the tokenizer's own chat_template) cannot render this conversation: "
                f"{error}. Change the data or set template to a named template."
            ) from None
        return rendered[0]

    def _find_end_of_turn(self) -> list[str]:
        """The special tokens the template writes right after an assistant's content (none for GLM).

        They are what both a final answer and one followed by another turn
        start with, so the next turn's opening token is not mistaken for them.
        """
        if self.tokenizer is not None:
            candidates = set(self.tokenizer.get_added_vocab())
        else:
            candidates = {token for token in self.special_tokens.values() if isinstance(token, str)}
        answered = [*_PROBE, {"role": "assistant", "content": _ANSWER_MARK}]
        final = self._render_hf(answered, None, False)
        followed = self._render_hf([*answered, {"role": "user", "content": "z"}], None, False)
        after_answer = os.path.commonprefix([text.split(_ANSWER_MARK, 1)[1] for text in (final, followed)])
        tokens = []
        while match := max((c for c in candidates if c and after_answer.startswith(c)), key=len, default=""):
            tokens.append(match)
            after_answer = after_answer[len(match) :]
        return tokens

    def _render_parts(self, system, turns, tools, add_generation_prompt):
        messages = ([{"role": "system", "content": system}] if system is not None else []) + turns
        text = self.render(messages, tools, add_generation_prompt)
        parts: list[str] = []
        cursor = 0
        for turn in turns:
            if turn["role"] in ("assistant", "function_call"):
                start, end = self._locate_answer(text, cursor, turn)
                parts += [text[cursor:start], text[start:end]]
                cursor = end
        if add_generation_prompt or turns[-1]["role"] in ("user", "observation"):
            parts.append(text[cursor:])
        else:
            parts[-1] += text[cursor:]
        return parts

    def _locate_answer(self, text: str, cursor: int, turn: dict) -> tuple[int, int]:
        """Character span of one assistant turn's answer in ``text``, searching from ``cursor``.

        The answer starts after the generation header (so a thought block the
        template adds belongs to the answer) and ends after the end-of-turn
        token(s). Looking for the header first keeps a user turn that quotes
        the answer from being mistaken for it.
        """
        header = self.generation_header
        header_at = text.find(header, cursor) if header else -1
        visible = turn["content"].split("</think>")[-1].strip() if turn["role"] == "assistant" else ""
        content_at = -1
        if visible:
            content_at = text.find(visible, header_at + len(header) if header_at >= 0 else cursor)
            if content_at < 0:  # the header found belongs to a later turn (Qwen 3 without thinking)
                header_at, content_at = -1, text.find(visible, cursor)
        if header_at < 0 and content_at < 0:
            raise ConfigError(
                f"template {self.name!r} cannot find assistant turn {turn['content'][:80]!r} in its rendering, so it "
                "cannot tell prompt from answer: set template to a named template"
            )
        start = header_at + len(header) if header_at >= 0 else content_at
        if content_at >= 0:
            end = content_at + len(visible)
            return start, end + len(self.end_of_turn) if text.startswith(self.end_of_turn, end) else end
        end_at = text.find(self.end_of_turn, start) if self.end_of_turn else -1
        return start, end_at + len(self.end_of_turn) if end_at >= 0 else len(text)


def _to_hf_messages(messages: list[dict]) -> list[dict]:
    """Our roles in the OpenAI shape chat templates expect."""
    converted = []
    for message in messages:
        if message["role"] == "function_call":
            calls = parse_function_calls(message["content"])
            converted.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"type": "function", "function": {"name": call.name, "arguments": call.arguments}} for call in calls],
                }
            )
        elif message["role"] == "observation":
            converted.append({"role": "tool", "content": message["content"]})
        else:
            converted.append({"role": message["role"], "content": message["content"]})
    return converted


def special_tokens_of(tokenizer) -> dict:
    """The special tokens transformers passes to chat templates."""
    return {key: value for key, value in tokenizer.special_tokens_map.items() if isinstance(value, str)}
