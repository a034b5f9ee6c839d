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
class SystemPieces:
    before: str
    after: str
    place: str
    """``start``: a block before the first message; ``first user`` or ``last user``: inside that user turn, right
    after its opening (Llama 2's ``<<SYS>>`` block, Gemma and Mistral's text before the first question, Mistral
    NeMo's before the last)."""
    default: str | None = None
    """What the template writes there when no system prompt is given (Qwen 2.5's "You are Qwen ..."): the Modelfile's
    SYSTEM line, so Ollama writes it in the same place, and writes a user's system prompt instead of it."""


@dataclass(frozen=True)
class TurnPieces:
    prefix: str
    system: SystemPieces | None  # None when the template has no place for a system prompt that we can find
    user: tuple[str, str]
    header: str  # generation prompt
    answer_open: str  # before an answer of the history
    answer_end: str


def turn_pieces(template: ChatTemplate) -> TurnPieces:
    user = {"role": "user", "content": _USER}
    plain = template.render([user])  # prefix + user_open + USER + user_close
    asked = template.render([user], add_generation_prompt=True)  # ... + header
    followed = template.render([user, {"role": "assistant", "content": _ANSWER}, user])  # ... ANSWER + answer_end + user_open + USER ...
    tokenizer = getattr(template, "tokenizer", None)
    before_user, after_user = plain.split(_USER)
    # Phi-3 ends a conversation that asks for no answer with an end-of-text token, which is no part of the user turn
    user_close = _common_part(after_user, asked.split(_USER)[1], tokenizer, at_end=False)
    header = asked.split(_USER)[1][len(user_close) :]
    answer_open = followed.split(_ANSWER)[0].split(_USER)[1][len(user_close) :]
    between = followed.split(_ANSWER)[1].split(_USER)[0]  # answer_end + user_open
    try:
        with_system = template.render([{"role": "system", "content": _SYSTEM}, user], add_generation_prompt=True)
    except UserError:  # a template that refuses a system prompt (Gemma 2)
        with_system = None
    user_open = _common_part(before_user, between, tokenizer, at_end=True)
    user_open = _user_open_after_a_system_prompt(with_system, user_open)
    prefix, answer_end = before_user[: len(before_user) - len(user_open)], between[: len(between) - len(user_open)]
    prefix, system = _system_pieces(template, with_system, prefix, user_open)
    return TurnPieces(prefix, system, (user_open, user_close), header, answer_open, answer_end)


def _user_open_after_a_system_prompt(with_system: str | None, user_open: str) -> str:
    """The opening of a user turn, as a system prompt before it shows it. The common ending of what precedes the first
    and a later user turn can be longer than that opening: Alpaca's default system prompt ends in a blank line, as
    does its answer, so both end in "\\n\\n### Instruction:\\n" where a user turn opens with "### Instruction:\\n"."""
    if with_system is None:
        return user_open
    after_system = with_system.split(_SYSTEM)[1].split(_USER)[0]
    return after_system if after_system and len(after_system) < len(user_open) and user_open.endswith(after_system) else user_open


def _system_pieces(template: ChatTemplate, with_system: str | None, prefix: str, user_open: str) -> tuple[str, SystemPieces | None]:
    """(prefix, where the system text goes and what surrounds it): ``prefix`` as found, unless the template writes its
    default system prompt when none is given (Qwen 2.5, Vicuna ...): then that block is the system one, filled by
    Ollama's ``.System`` (the Modelfile's SYSTEM line holds the default). ``with_system``: a system prompt and a
    user turn as the template renders them (None where it refuses a system prompt)."""
    if with_system is None:
        return prefix, None
    before, after = with_system.split(_SYSTEM)
    after = after.split(_USER)[0]
    if before.startswith(prefix + user_open) and not after.endswith(user_open):
        return prefix, SystemPieces(before[len(prefix + user_open) :], after, _user_turn_with_system(template))
    if not after.endswith(user_open):
        return prefix, None
    close = after[: len(after) - len(user_open)]
    if before.startswith(prefix):
        return prefix, SystemPieces(before[len(prefix) :], close, "start")
    default = getattr(getattr(template, "spec", None), "default_system", None)
    if not default and prefix.startswith(before) and prefix.endswith(close):  # an official (Jinja) template's default
        default = prefix[len(before) : len(prefix) - len(close)]
    if default and prefix == before + default + close:
        return "", SystemPieces(before, close, "start", default)
    return prefix, None


def _user_turn_with_system(template: ChatTemplate) -> str:
    """Which user turn of a longer conversation the template writes the system prompt into."""
    first, last = "\x00FIRST\x00", "\x00LAST\x00"
    conversation = [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": first},
        {"role": "assistant", "content": _ANSWER},
        {"role": "user", "content": last},
    ]
    text = template.render(conversation, add_generation_prompt=True)
    return "first user" if text.index(_SYSTEM) < text.index(first) else "last user"


def _common_part(first: str, second: str, tokenizer, *, at_end: bool) -> str:
    """The longest common ending (``at_end``) or beginning, in whole tokens when a tokenizer is at hand (so
    ``<|eot_id|>`` and ``<|begin_of_text|>`` do not share a ``|>``, nor ``<|endoftext|>`` and ``<|assistant|>`` a ``<|``)."""
    shares = str.endswith if at_end else str.startswith
    if tokenizer is not None:
        first_ids, second_ids = (tokenizer(text, add_special_tokens=False)["input_ids"] for text in (first, second))
        if at_end:
            first_ids, second_ids = first_ids[::-1], second_ids[::-1]
        size = _same_leading(first_ids, second_ids)
        ids = first_ids[:size][::-1] if at_end else first_ids[:size]
        common = tokenizer.decode(ids) if size else ""
        if shares(first, common) and shares(second, common):
            return common
    if at_end:
        size = _same_leading(first[::-1], second[::-1])
        return first[len(first) - size :]
    return first[: _same_leading(first, second)]


def _same_leading(first, second) -> int:
    size = 0
    while size < min(len(first), len(second)) and first[size] == second[size]:
        size += 1
    return size


def _go(text: str) -> str:
    """Literal text inside a Go template (only ``{{`` needs care)."""
    return text.replace("{{", '{{ "{{" }}')


def _go_system(system: SystemPieces | None, place: str) -> str:
    """The Go template text that writes Ollama's system prompt at ``place``, if the template puts it there."""
    if system is None or system.place != place:
        return ""
    if place == "start":
        return "{{ if .System }}" + _go(system.before) + "{{ .System }}" + _go(system.after) + "{{ end }}"
    if place == "first user":  # $system is emptied once written
        return "{{ if $system }}" + _go(system.before) + "{{ $system }}" + _go(system.after) + '{{ $system = "" }}{{ end }}'
    # the last user turn: the last message, or the one before the open answer that ends the conversation
    return (
        "{{ if and $.System (le (len (slice $.Messages $i)) 2) }}" + _go(system.before) + "{{ $.System }}" + _go(system.after) + "{{ end }}"
    )


def ollama_modelfile(gguf_name: str, template: ChatTemplate, default_system: str | None = None) -> str:
    pieces = turn_pieces(template)
    body = _go(pieces.prefix) + _go_system(pieces.system, "start")
    if pieces.system and pieces.system.place == "first user":
        body += "{{ $system := .System }}"
    body += (
        "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        '{{ if eq .Role "user" }}' + _go(pieces.user[0])
        + _go_system(pieces.system, "first user") + _go_system(pieces.system, "last user")
        + "{{ .Content }}" + _go(pieces.user[1])
        + "{{ if $last }}" + _go(pieces.header) + "{{ end }}"
        + '{{ else if eq .Role "assistant" }}' + _go(pieces.answer_open) + "{{ .Content }}{{ if not $last }}" + _go(pieces.answer_end)
        + "{{ end }}{{ end }}{{ end }}"
    )  # fmt: skip
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{body}"""']
    lines += [f'PARAMETER stop "{word}"' for word in template.stop_words if word]
    found = pieces.system.default if pieces.system else None
    system = default_system or found or getattr(getattr(template, "spec", None), "default_system", None)
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"
