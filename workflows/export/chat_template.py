"""The run's chat template as a Jinja string for ``tokenizer_config.json``.

An exported model must be prompted the way it was trained: vLLM, llama.cpp
and ``apply_chat_template`` all read the Jinja ``chat_template`` stored with
the tokenizer. ``template: auto`` already is that Jinja string. A named
template is data (a ``TemplateSpec``), so this module writes the Jinja program
that renders the spec the way ``SlotTemplate`` does: the same slots, system
placement, trimming, default system prompt, suffix and thought handling. The
special tokens are written in literally (the exported tokenizer is fixed).

Tools and function calls are not rendered by the written template (their
formats are code in ``workflows.templates.tools``); the export check compares
the rendering of plain conversations, where the two must agree exactly.
"""

import json

from workflows.templates import ChatTemplate, JinjaTemplate, SlotTemplate
from workflows.templates.formats import TemplateSpec


def jinja_chat_template(template: ChatTemplate, enable_thinking: bool = True) -> str:
    """The Jinja source that renders plain conversations exactly as ``template.render`` does."""
    if isinstance(template, JinjaTemplate):
        return template.chat_template
    if not isinstance(template, SlotTemplate):
        raise TypeError(f"cannot write a Jinja chat template for {type(template).__name__}")
    tokenizer = template.tokenizer
    tokens = {"{bos_token}": getattr(tokenizer, "bos_token", None) or "", "{eos_token}": getattr(tokenizer, "eos_token", None) or ""}
    return _SpecWriter(template.spec, tokens, enable_thinking).write()


def _literal(text: str) -> str:
    """A Jinja string literal (JSON's escapes are a subset of Jinja's)."""
    return json.dumps(text, ensure_ascii=False)


class _SpecWriter:
    def __init__(self, spec: TemplateSpec, tokens: dict[str, str], enable_thinking: bool):
        self.spec, self.tokens, self.enable_thinking = spec, tokens, enable_thinking

    def slot(self, slot: str, content: str = "''") -> str:
        """A Jinja expression for ``slot`` with ``{content}`` replaced by the expression ``content``."""
        for placeholder, value in self.tokens.items():
            slot = slot.replace(placeholder, value)
        pieces = slot.split("{content}")
        expression = f" + {content} + ".join(_literal(piece) for piece in pieces)
        return expression

    def write(self) -> str:
        spec = self.spec
        lines = [
            "{#- written by LlamaBoard from the template '" + spec.name + "' the model was trained with -#}",
            *self._system(),
            "{{- " + self.slot(spec.prefix) + " -}}",
        ]
        if spec.system_placement == "own_turn":
            lines.append("{%- if system is not none -%}{{- " + self.slot(spec.system, "system") + " -}}{%- endif -%}")
        lines += self._turns()
        lines.append("{%- if add_generation_prompt -%}{{- " + self._generation_prompt() + " -}}")
        lines.append("{%- elif turns and turns[-1]['role'] == 'assistant' -%}{{- " + self.slot(spec.suffix) + " -}}{%- endif -%}")
        return "\n".join(lines)

    def _system(self) -> list[str]:
        spec = self.spec
        default = "none" if spec.default_system is None else _literal(spec.default_system)
        lines = [
            "{%- if messages and messages[0]['role'] == 'system' -%}",
            "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}",
            "{%- else -%}",
            "{%- set system = " + default + " -%}{%- set turns = messages -%}",
            "{%- endif -%}",
        ]
        if spec.system_placement == "unsupported":
            lines.insert(1, "{{- raise_exception('template " + spec.name + " does not support a system prompt') -}}")
        if spec.strip_content:
            lines.append("{%- if system is not none -%}{%- set system = system | trim -%}{%- endif -%}")
        if getattr(spec, "drop_empty_system", False):
            lines.append("{%- if not system -%}{%- set system = none -%}{%- endif -%}")
        if spec.thought_words:
            default_thinking = "true" if self.enable_thinking else "false"
            lines.append("{%- set thinking = enable_thinking if enable_thinking is defined else " + default_thinking + " -%}")
        return lines

    def _merge_index(self) -> str | None:
        return {"first_user": "0", "last_user": "turns | length - 1"}.get(self.spec.system_placement)

    def _turns(self) -> list[str]:
        spec = self.spec
        content = "(message['content'] | trim)" if spec.strip_content else "message['content']"
        observation = spec.observation if spec.observation is not None else spec.user
        user = self.slot(spec.user, "content")
        merge_index = self._merge_index()
        lines = [
            "{%- set ns = namespace(last_query=-1) -%}",
            "{%- for message in turns -%}{%- if message['role'] == 'user' -%}{%- set ns.last_query = loop.index0 -%}{%- endif -%}"
            "{%- endfor -%}",
            "{%- for message in turns -%}",
            "{%- set content = " + content + " -%}",
            "{%- if message['role'] == 'user' -%}",
        ]
        if merge_index is not None:
            lines.append(
                "{%- if loop.index0 == " + merge_index + " and system is not none -%}"
                "{%- set content = " + self.slot(spec.system, "system") + " + content -%}{%- endif -%}"
            )
        lines += [
            "{{- " + user + " -}}",
            "{%- elif message['role'] in ('observation', 'tool') -%}",
            "{{- " + self.slot(observation, "content") + " -}}",
            "{%- else -%}",
            "{%- set header = " + self.slot(spec.generation_prompt) + " -%}",
            "{%- set is_last = loop.index0 == turns | length - 1 -%}",
            *self._thought(),
            "{%- set slot_final = is_last and not add_generation_prompt -%}",
            "{{- header -}}",
        ]
        final_slot = getattr(spec, "final_assistant", None)
        if final_slot:
            lines.append(
                "{%- if slot_final -%}{{- "
                + self.slot(final_slot, "content")
                + " -}}{%- else -%}{{- "
                + self.slot(spec.assistant, "content")
                + " -}}{%- endif -%}"
            )
        else:
            lines.append("{{- " + self.slot(spec.assistant, "content") + " -}}")
        lines += ["{%- endif -%}", "{%- endfor -%}"]
        return lines

    def _thought(self) -> list[str]:
        """Qwen 3's rule, as ``SlotTemplate._with_thought``: thoughts only after the last query, always on the last turn."""
        if not self.spec.thought_words:
            return []
        opening, closing = self.spec.thought_words
        open_mark, close_mark = _literal(opening.strip()), _literal(closing.strip())
        return [
            "{%- set reasoning = '' -%}",
            "{%- if " + close_mark + " in content -%}",
            "{%- set pieces = content.split(" + close_mark + ") -%}",
            "{%- set reasoning = pieces[0].rstrip('\\n').split(" + open_mark + ")[-1].lstrip('\\n') -%}",
            "{%- set content = pieces[-1].lstrip('\\n') -%}",
            "{%- endif -%}",
            "{%- if not thinking -%}{%- set reasoning = '' -%}{%- endif -%}",
            "{%- if loop.index0 > ns.last_query and (is_last or reasoning) -%}",
            "{%- if not thinking -%}{%- set header = header + " + _literal(opening + closing) + " -%}",
            "{%- else -%}{%- set content = "
            + _literal(opening)
            + " + reasoning.strip('\\n') + "
            + _literal(closing)
            + " + content -%}{%- endif -%}",
            "{%- endif -%}",
        ]

    def _generation_prompt(self) -> str:
        prompt = self.slot(self.spec.generation_prompt)
        if self.spec.thought_words:
            prompt = f"{prompt} + ('' if thinking else {_literal(''.join(self.spec.thought_words))})"
        return prompt
