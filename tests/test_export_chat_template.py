"""The Jinja chat template written into an export renders every named template exactly as the template itself does."""

import pytest
from jinja2 import TemplateError
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import render_jinja_template

from workflows.errors import UserError
from workflows.export.chat_template import jinja_chat_template
from workflows.templates import get_template
from workflows.templates.registry import TEMPLATE_SPECS

CONVERSATIONS = [
    [{"role": "user", "content": " Hi "}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "Again"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"},
     {"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello {x} {{ y }}"}],
]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _render(source: str, tokenizer, conversation, generation_prompt):
    special = {key: value for key, value in tokenizer.special_tokens_map.items() if isinstance(value, str)}
    return render_jinja_template([conversation], chat_template=source, add_generation_prompt=generation_prompt, **special)[0][0]


@pytest.mark.parametrize("name", sorted(TEMPLATE_SPECS))
@pytest.mark.parametrize("thinking", [True, False])
def test_written_jinja_renders_like_the_template(tokenizer, name, thinking):
    try:
        template = get_template(name, tokenizer, enable_thinking=thinking)
    except UserError:
        pytest.skip(f"{name} is refused for this tokenizer")
    source = jinja_chat_template(template, thinking)
    for conversation in CONVERSATIONS:
        for generation_prompt in (True, False) if conversation[-1]["role"] == "user" else (False,):
            try:
                expected = template.render(conversation, add_generation_prompt=generation_prompt)
            except UserError:
                with pytest.raises(TemplateError):
                    _render(source, tokenizer, conversation, generation_prompt)
                continue
            assert _render(source, tokenizer, conversation, generation_prompt) == expected
