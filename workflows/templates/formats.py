"""One rendering engine for every named template; the templates themselves are data.

A ``TemplateSpec`` lists the slots a family writes around each kind of turn.
Slots are plain strings with ``{content}``, ``{bos_token}`` and
``{eos_token}`` placeholders (the tokens come from the bound tokenizer).
``SlotTemplate`` renders any spec; ``registry.py`` holds the specs.
"""

from dataclasses import dataclass
from typing import Literal

from workflows.errors import ConfigError
from workflows.templates.base import ChatTemplate
from workflows.templates.tools import TOOL_STYLES, ToolStyle, parse_function_calls, parse_tools

SystemPlacement = Literal["own_turn", "first_user", "last_user", "unsupported"]


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    user: str = "{content}"
    generation_prompt: str = ""
    """What precedes every assistant turn: the text a prompt for generation ends with."""
    assistant: str = "{content}{eos_token}"
    system: str = "{content}"
    observation: str | None = None
    """Slot of a tool result; None: the user slot."""
    function: str | None = None
    """Slot of a function_call turn; None: the assistant slot."""
    prefix: str = ""
    suffix: str = ""
    """Written after the last answer when no generation prompt follows (Phi-3 ends with eos)."""
    final_assistant: str | None = None
    """Slot of the last answer when no generation prompt follows; None: the assistant slot
    (gpt-oss ends its last answer with <|return|> and the earlier ones with <|end|>)."""
    default_system: str | None = None
    """Used when a conversation has no system message. None writes no system
    text at all; "" still writes the system slot (Llama 3.1's date header)."""
    system_placement: SystemPlacement = "own_turn"
    """own_turn: a slot of its own; first_user / last_user: written before the
    content of that user turn (last_user only when it is the final message, as
    Mistral Nemo does); unsupported: a system message is an error (Gemma 2)."""
    drop_empty_system: bool = False
    strip_content: bool = False
    """The official template trims each message (Llama, Gemma)."""
    tool_style: str | None = "default"
    """A key of ``TOOL_STYLES``; None: the family writes tools in a way not implemented here, so tools and
    function calls are refused (rendering them in another family's format would train the wrong format)."""
    stop_words: tuple[str, ...] = ()
    replace_eos: bool = False
    """fix_tokenizer makes stop_words[0] the eos token."""
    efficient_eos: bool = False
    """Assistant turns end with no token; training appends eos to the last answer."""
    thought_words: tuple[str, str] | None = None
    """Set for reasoning templates: how a thought is opened and closed."""


class SlotTemplate(ChatTemplate):
    """Renders a ``TemplateSpec`` the way its model family's official template does."""

    def __init__(self, spec: TemplateSpec, tokenizer=None, enable_thinking: bool = True):
        self.spec = spec
        self.name = spec.name
        self.tokenizer = tokenizer
        self.enable_thinking = enable_thinking
        self.replace_eos = spec.replace_eos
        self.efficient_eos = spec.efficient_eos
        self.tool_style = spec.tool_style
        eos = getattr(tokenizer, "eos_token", None)
        self.stop_words = list(spec.stop_words) or ([eos] if eos else [])

    def _fill(self, slot: str, content: str = "") -> str:
        # Content goes in last so that braces in it are never read as placeholders.
        bos = getattr(self.tokenizer, "bos_token", None) or ""
        eos = getattr(self.tokenizer, "eos_token", None) or ""
        return slot.replace("{bos_token}", bos).replace("{eos_token}", eos).replace("{content}", content)

    def _content(self, message: dict) -> str:
        return message["content"].strip() if self.spec.strip_content else message["content"]

    def _system_text(self, system: str | None, tools: str | None) -> str | None:
        spec = self.spec
        if system is not None and spec.system_placement == "unsupported":
            raise ConfigError(
                f"template {spec.name!r} does not support a system prompt (the model's official chat template "
                "rejects it): remove the system message from the data or set template to one that supports it"
            )
        system = spec.default_system if system is None else system
        if system is not None and spec.strip_content:
            system = system.strip()
        if spec.drop_empty_system and not system:
            system = None
        if not tools:
            return system
        tool_text = self._tool_style().describe(parse_tools(tools))
        return f"{system}\n\n{tool_text}" if system else tool_text

    def _render_parts(self, system, turns, tools, add_generation_prompt):
        spec = self.spec
        system_text = self._system_text(system, tools)
        prompt = self._fill(spec.prefix)
        if system_text is not None and spec.system_placement == "own_turn":
            prompt += self._fill(spec.system, system_text)
        merge_index = {"first_user": 0, "last_user": len(turns) - 1}.get(spec.system_placement)
        last_query = max((i for i, turn in enumerate(turns) if turn["role"] == "user"), default=-1)
        parts: list[str] = []
        for index, turn in enumerate(turns):
            if turn["role"] == "user" or turn["role"] == "observation":
                content = self._content(turn)
                if index == merge_index and system_text is not None and turn["role"] == "user":
                    content = self._fill(spec.system, system_text) + content
                slot = spec.user if turn["role"] == "user" or spec.observation is None else spec.observation
                prompt += self._fill(slot, content)
            else:
                is_last = index == len(turns) - 1
                header, answer = self._assistant_turn(turn, index > last_query, is_last, is_last and not add_generation_prompt)
                parts += [prompt + header, answer]
                prompt = ""
        if add_generation_prompt or turns[-1]["role"] in ("user", "observation"):
            parts.append(prompt + (self._generation_prompt() if add_generation_prompt else ""))
        else:
            parts[-1] += self._fill(spec.suffix)
        return parts

    def _tool_style(self) -> ToolStyle:
        if self.spec.tool_style is None:
            raise ConfigError(
                f"template {self.name!r} does not support tools or function calls yet (its model family writes them in a "
                "format not implemented here): set template to auto to render them with the tokenizer's own chat_template"
            )
        return TOOL_STYLES[self.spec.tool_style]

    def _generation_prompt(self) -> str:
        header = self._fill(self.spec.generation_prompt)
        if self.spec.thought_words and not self.enable_thinking:
            header += "".join(self.spec.thought_words)
        return header

    def _assistant_turn(self, turn: dict, after_last_query: bool, is_last: bool, ends_text: bool) -> tuple[str, str]:
        """(header, answer) of one assistant-side turn; ``ends_text``: nothing is written after it."""
        spec = self.spec
        header = self._fill(spec.generation_prompt)
        if turn["role"] == "function_call":
            calls = self._tool_style().write_calls(parse_function_calls(turn["content"]))
            return header, self._fill(spec.function or spec.assistant, calls)
        content = self._content(turn)
        if spec.thought_words:
            header, content = self._with_thought(header, content, after_last_query, is_last)
        slot = spec.final_assistant if ends_text and spec.final_assistant else spec.assistant
        return header, self._fill(slot, content)

    def _with_thought(self, header: str, content: str, after_last_query: bool, is_last: bool) -> tuple[str, str]:
        """Keep thoughts only after the last user query, as Qwen 3's official template does.

        Earlier turns lose their thought; the final turn always carries a
        (possibly empty) thought block. With thinking disabled the empty block
        is part of the prompt, so the model is not trained to write it.
        """
        opening, closing = self.spec.thought_words
        reasoning, answer = "", content
        if closing.strip() in content:
            pieces = content.split(closing.strip())
            reasoning = pieces[0].rstrip("\n").split(opening.strip())[-1].lstrip("\n")
            answer = pieces[-1].lstrip("\n")
        if not self.enable_thinking:
            reasoning = ""
        if not after_last_query or not (is_last or reasoning):
            return header, answer
        if not self.enable_thinking:
            return header + opening + closing, answer
        return header, opening + reasoning.strip("\n") + closing + answer
