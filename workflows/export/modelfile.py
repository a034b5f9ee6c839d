"""An Ollama ``Modelfile`` beside the GGUF: its TEMPLATE (Go template syntax) and stop words from our chat template.

The pieces are read off the template itself by rendering marker messages, so
named templates and ``auto`` (a Jinja template) are handled alike: what comes
before the first message (prefix), around a system prompt, around a user turn,
the generation header, what opens an answer in the history (the header plus any
text the answer slot starts with, such as Llama 2's space) and what ends one.
A last assistant message is left open, as Ollama's own templates do: Ollama
continues it. The TEMPLATE has no ``{{-`` / ``-}}`` markers: Go's trimming would
also eat the newline or space a piece ends with (the newline after ``<|im_end|>``).
"""

from dataclasses import dataclass

from workflows.errors import UserError
from workflows.templates import ChatTemplate

_SYSTEM, _USER, _ANSWER = "\x00SYSTEM\x00", "\x00USER\x00", "\x00ANSWER\x00"


@dataclass(frozen=True)
class TurnPieces:
    prefix: str
    system: tuple[str, str] | None  # (before, after) the system text; None when the template puts it elsewhere
    user: tuple[str, str]
    header: str  # generation prompt
    answer_open: str  # before an answer of the history
    answer_end: str


def turn_pieces(template: ChatTemplate) -> TurnPieces:
    user = {"role": "user", "content": _USER}
    plain = template.render([user])  # prefix + user_open + USER + user_close
    asked = template.render([user], add_generation_prompt=True)  # ... + header
    followed = template.render([user, {"role": "assistant", "content": _ANSWER}, user])  # ... ANSWER + answer_end + user_open + USER ...
    before_user, user_close = plain.split(_USER)
    header = asked.split(_USER)[1][len(user_close) :]
    answer_open = followed.split(_ANSWER)[0].split(_USER)[1][len(user_close) :]
    between = followed.split(_ANSWER)[1].split(_USER)[0]  # answer_end + user_open
    user_open = _common_suffix(before_user, between, getattr(template, "tokenizer", None))
    prefix, answer_end = before_user[: len(before_user) - len(user_open)], between[: len(between) - len(user_open)]
    prefix, system = _system_pieces(template, prefix, user_open)
    return TurnPieces(prefix, system, (user_open, user_close), header, answer_open, answer_end)


def _system_pieces(template: ChatTemplate, prefix: str, user_open: str) -> tuple[str, tuple[str, str] | None]:
    """(prefix, (before, after) the system text): ``prefix`` as found, unless the template writes its default system
    prompt when none is given (Qwen 2.5, Vicuna ...): then that block is the system one, filled by Ollama's ``.System``
    (the Modelfile's SYSTEM line holds the default). None for a system prompt that goes inside a user turn."""
    try:
        text = template.render([{"role": "system", "content": _SYSTEM}, {"role": "user", "content": _USER}], add_generation_prompt=True)
    except UserError:  # a template that refuses a system prompt (Gemma 2)
        return prefix, None
    before, after = text.split(_SYSTEM)
    after = after.split(_USER)[0]
    if not after.endswith(user_open):
        return prefix, None  # the system prompt goes inside a user turn
    close = after[: len(after) - len(user_open)]
    if before.startswith(prefix):
        return prefix, (before[len(prefix) :], close)
    default = getattr(getattr(template, "spec", None), "default_system", None)
    if default and prefix == before + default + close:
        return "", (before, close)
    return prefix, None


def _common_suffix(first: str, second: str, tokenizer=None) -> str:
    """The longest common ending, in whole tokens when a tokenizer is at hand (so ``<|eot_id|>`` and
    ``<|begin_of_text|>`` do not share a ``|>``)."""
    if tokenizer is not None:
        first_ids, second_ids = (tokenizer(text, add_special_tokens=False)["input_ids"] for text in (first, second))
        size = 0
        while size < min(len(first_ids), len(second_ids)) and first_ids[-1 - size] == second_ids[-1 - size]:
            size += 1
        common = tokenizer.decode(first_ids[len(first_ids) - size :]) if size else ""
        if first.endswith(common) and second.endswith(common):
            return common
    size = 0
    while size < min(len(first), len(second)) and first[-1 - size] == second[-1 - size]:
        size += 1
    return first[len(first) - size :]


def _go(text: str) -> str:
    """Literal text inside a Go template (only ``{{`` needs care)."""
    return text.replace("{{", '{{ "{{" }}')


def ollama_modelfile(gguf_name: str, template: ChatTemplate, default_system: str | None = None) -> str:
    pieces = turn_pieces(template)
    body = _go(pieces.prefix)
    if pieces.system:
        body += "{{ if .System }}" + _go(pieces.system[0]) + "{{ .System }}" + _go(pieces.system[1]) + "{{ end }}"
    body += (
        "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        '{{ if eq .Role "user" }}' + _go(pieces.user[0]) + "{{ .Content }}" + _go(pieces.user[1])
        + "{{ if $last }}" + _go(pieces.header) + "{{ end }}"
        + '{{ else if eq .Role "assistant" }}' + _go(pieces.answer_open) + "{{ .Content }}{{ if not $last }}" + _go(pieces.answer_end)
        + "{{ end }}{{ end }}{{ end }}"
    )  # fmt: skip
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{body}"""']
    lines += [f'PARAMETER stop "{word}"' for word in template.stop_words if word]
    system = default_system or getattr(getattr(template, "spec", None), "default_system", None)
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"
