"""The Ollama Modelfile's TEMPLATE renders a conversation exactly as the chat template it was written from.

Ollama renders TEMPLATE with Go's text/template. The test runs it through Jinja instead: ``go_to_jinja``
translates the few Go actions the Modelfile uses (and refuses any other), applying Go's whitespace
trimming (``{{-`` and ``-}}``) itself, so a marker that eats a turn's newline shows up as a difference.
"""

import re

import jinja2
import pytest
from transformers import AutoTokenizer

from workflows.errors import UserError
from workflows.export.modelfile import ollama_modelfile
from workflows.templates import get_template
from workflows.templates.registry import TEMPLATE_SPECS

GO_ACTION = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)
GO_TO_JINJA = {
    ".System": "{{ system }}",
    ".Content": "{{ message.content }}",
    "if .System": "{% if system %}",
    "range $i, $_ := .Messages": "{% for message in messages %}",
    "$last := eq (len (slice $.Messages $i)) 1": "{% set last = loop.last %}",
    'if eq .Role "user"': '{% if message.role == "user" %}',
    'else if eq .Role "assistant"': '{% elif message.role == "assistant" %}',
    "if $last": "{% if last %}",
    "if not $last": "{% if not last %}",
    # a system prompt inside the first user turn (written once), or inside the last one
    "$system := .System": "{% set state = namespace(system=system) %}",
    "if $system": "{% if state.system %}",
    "$system": "{{ state.system }}",
    '$system = ""': '{% set state.system = "" %}',
    "if and $.System (le (len (slice $.Messages $i)) 2)": "{% if system and loop.revindex <= 2 %}",
    "$.System": "{{ system }}",
}
CHATS = [  # conversations that ask for an answer: what Ollama renders to generate from
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Again"}],
]


def go_to_jinja(source: str) -> tuple[str, list[str]]:
    """(Jinja source, the literal texts it prints by index): literal text never reaches Jinja's parser."""
    parts, texts, blocks, position, trim_next = [], [], [], 0, False

    def literal(text: str) -> None:
        texts.append(text)
        parts.append(f"{{{{ texts[{len(texts) - 1}] }}}}")

    for match in GO_ACTION.finditer(source):
        left, action, right = match.groups()
        text = source[position : match.start()]
        text = text.lstrip() if trim_next else text
        literal(text.rstrip() if left else text)  # Go: "{{-" trims the white space before it, "-}}" the white space after
        if action == '"{{"':
            literal("{{")
        elif action == "end":
            parts.append("{% endfor %}" if blocks.pop() == "for" else "{% endif %}")
        else:
            parts.append(GO_TO_JINJA[action])  # a KeyError names an action this translation does not know
            if action.startswith(("if ", "range ")):
                blocks.append("for" if action.startswith("range ") else "if")
        position, trim_next = match.end(), bool(right)
    tail = source[position:]
    literal(tail.lstrip() if trim_next else tail)
    return "".join(parts), texts


def ollama_render(modelfile: str, system: str | None, messages: list[dict]) -> str:
    source, texts = go_to_jinja(re.search(r'^TEMPLATE """(.*?)"""$', modelfile, re.S | re.M).group(1))
    default = re.search(r'^SYSTEM """(.*?)"""$', modelfile, re.S | re.M)
    system = system or (default.group(1) if default else "")  # Ollama's .System: the request's, else the Modelfile's
    return jinja2.Environment(autoescape=False).from_string(source).render(texts=texts, system=system, messages=messages)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("name", [None, *sorted(TEMPLATE_SPECS)])
def test_the_modelfile_template_renders_a_chat_like_the_chat_template(tokenizer, name):
    try:
        template = get_template(name, tokenizer)
    except UserError:
        pytest.skip(f"{name} is refused for this tokenizer")
    modelfile = ollama_modelfile("model-q8_0.gguf", template)
    checked = 0
    for system in [None, "Be brief."] if "System" in modelfile else [None]:
        for messages in CHATS:
            try:
                expected = template.render(
                    ([{"role": "system", "content": system}] if system else []) + messages, add_generation_prompt=True
                )
            except UserError:
                continue  # a conversation this template refuses (the export check covers what it accepts)
            assert ollama_render(modelfile, system, messages) == expected, (system, messages)
            checked += 1
    assert checked and all(f'PARAMETER stop "{word}"' in modelfile for word in template.stop_words if word)


@pytest.mark.parametrize("name", [None, "gemma", "llama2", "mistral"])
def test_a_last_answer_is_left_open_for_ollama_to_continue(tokenizer, name):
    template = get_template(name, tokenizer)
    messages = CHATS[1][:2]
    finished = template.render(messages)
    open_answer = finished[: finished.rindex("Hello!") + len("Hello!")]  # the history as trained, without the answer's end
    assert ollama_render(ollama_modelfile("model.gguf", template), None, messages) == open_answer


TINY_TOKENIZER_ARTIFACTS = {"ernie_nothink", "mistral_small"}
"""Their begin and end tokens (``<s>``/``</s>``) are plain text to the tiny tokenizer, so they share an ending and the
turn's opening cannot be told apart from them; each model's own tokenizer has them as single special tokens."""


def test_every_template_that_takes_a_system_prompt_gets_it_from_ollama(tokenizer):
    """Llama 2, Gemma and Mistral write it inside the first user turn, Mistral NeMo inside the last, Alpaca after a
    default that ends in the same blank line as an answer: each of these once lost Ollama's system prompt."""
    dropped = []
    for name in [None, *sorted(TEMPLATE_SPECS)]:
        try:
            template = get_template(name, tokenizer)
            template.render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
        except UserError:
            continue  # refused for this tokenizer, or refuses a system prompt (Gemma 2)
        if "System" not in ollama_modelfile("model.gguf", template):
            dropped.append(name)
    assert set(dropped) == TINY_TOKENIZER_ARTIFACTS, dropped


@pytest.mark.parametrize("family", ["gemma3", "llama3", "phi3", "qwen2_5", "qwen3"])
def test_the_modelfile_of_an_official_chat_template_renders_a_chat_like_it_system_prompt_included(load_tokenizer, family):
    """The official Jinja templates (``auto``) with their own tokenizers, whose special tokens are single tokens:
    Gemma 3 writes the system prompt inside the first user turn, the others before it."""
    template = get_template(None, load_tokenizer(family))
    modelfile = ollama_modelfile("model.gguf", template)
    for system in [None, "Be brief."]:
        for messages in CHATS:
            expected = template.render(([{"role": "system", "content": system}] if system else []) + messages, add_generation_prompt=True)
            assert ollama_render(modelfile, system, messages) == expected, (family, system, messages)
