"""Chat templates against the golden renderings of the official templates (../shared/fixtures).

For every tokenizer family, the named template and ``auto`` must give the
golden text and the golden token ids; for the text-only families, the named
template (where we have one) and ``auto`` must give the golden text.
"""

import datetime as real_datetime
import json

import pytest

from workflows.errors import ConfigError
from workflows.templates import JinjaTemplate, get_template

TOKENIZER_FAMILIES = ["llama3", "qwen3", "qwen2_5", "phi3", "gemma3"]
CONVERSATIONS = ["a_single_user", "b_system_user_assistant_user", "c_system_two_full_turns"]
# templates_text family -> our named template for it (None: `auto` only)
TEXT_FAMILIES = {
    "llama3_1": "llama3_1",
    "llama3_2": "llama3_2",
    "mistral": "mistral_nemo",
    "mistral_small3_2": "mistral_small3_2",
    "gemma2": "gemma2",
    "phi3_5": "phi3_5",
    "deepseek3_1": "deepseek3_1",
    "qwen2_5": "qwen2_5",
    "glm4_6": "glm4_moe",
    "gpt_oss": "gpt_oss",
    "cohere_tool_use": None,
    "cohere_r7b_tool_use": None,
}
GOLDEN_DATE = "26 Jul 2024"


@pytest.fixture(scope="module")
def conversations(fixtures_dir):
    return json.loads((fixtures_dir / "tokenizers" / "conversations.json").read_text())["conversations"]


@pytest.fixture
def pinned_today(monkeypatch):
    """Templates that call strftime_now() see the goldens' date, 2024-07-26."""
    from transformers.utils import chat_template_utils

    class PinnedDatetime(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2024, 7, 26, 12, 0, 0)

    monkeypatch.setattr(chat_template_utils, "datetime", PinnedDatetime)


def golden(fixtures_dir, kind: str, family: str) -> dict:
    return json.loads((fixtures_dir / kind / family / "golden.json").read_text())


def encode(template, tokenizer, conversation: dict) -> list[int]:
    if conversation["add_generation_prompt"]:
        return template.encode_prompt(tokenizer, conversation["messages"])
    pairs = template.encode_multiturn(tokenizer, conversation["messages"])
    return [token for prompt, answer in pairs for token in prompt + answer]


@pytest.mark.parametrize("template_name", ["named", "auto"])
@pytest.mark.parametrize("family", TOKENIZER_FAMILIES)
def test_template_matches_official_text_and_token_ids(family, template_name, fixtures_dir, conversations, load_tokenizer):
    tokenizer = load_tokenizer(family)
    template = get_template(family if template_name == "named" else "auto", tokenizer)
    results = golden(fixtures_dir, "tokenizers", family)["results"]
    for key in CONVERSATIONS:
        conversation, expected = conversations[key], results[key]
        text = template.render(conversation["messages"], add_generation_prompt=conversation["add_generation_prompt"])
        assert text == expected["text"], key
        assert encode(template, tokenizer, conversation) == expected["input_ids"], key


@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_auto_renders_the_official_jinja_template_text(family, fixtures_dir, conversations, pinned_today):
    folder = fixtures_dir / "templates_text" / family
    expected = golden(fixtures_dir, "templates_text", family)
    template = JinjaTemplate(
        (folder / "template.jinja").read_text(),
        json.loads((folder / "special_tokens.json").read_text()),
        template_kwargs={"date_string": GOLDEN_DATE},
    )
    check_text_goldens(template, conversations, expected["results"])
    if "results_tools_empty_list" in expected:
        check_text_goldens(template, conversations, expected["results_tools_empty_list"], tools="[]")


@pytest.mark.parametrize("family", [family for family, name in TEXT_FAMILIES.items() if name])
def test_named_template_renders_the_official_text(family, fixtures_dir, conversations):
    template = get_template(TEXT_FAMILIES[family], tokenizer=None)
    check_text_goldens(template, conversations, golden(fixtures_dir, "templates_text", family)["results"])


def check_text_goldens(template, conversations: dict, results: dict, tools: str | None = None) -> None:
    for key in CONVERSATIONS:
        conversation, expected = conversations[key], results[key]

        def render(conversation=conversation):
            return template.render(conversation["messages"], tools=tools, add_generation_prompt=conversation["add_generation_prompt"])

        if expected["error"]:
            with pytest.raises(ConfigError):
                render()
        else:
            assert render() == expected["text"], key


def test_gemma2_rejects_a_system_prompt_naming_the_template():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    with pytest.raises(ConfigError, match="template 'gemma2' does not support a system prompt"):
        get_template("gemma2", tokenizer=None).render(messages, add_generation_prompt=True)
