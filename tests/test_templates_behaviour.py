"""What training and generation rely on: answer spans, thoughts, tools, errors, the tokenizer fix."""

import json

import pytest

from workflows.errors import ConfigError, DatasetError
from workflows.templates import get_template, list_templates

MULTI_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a prime."},
    {"role": "assistant", "content": "Seven."},
    {"role": "user", "content": "Another one?"},
    {"role": "assistant", "content": "Eleven, and then thirteen."},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "You're welcome."},
]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}
TOOLS = json.dumps([WEATHER_TOOL])
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "function_call", "content": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
    {"role": "observation", "content": '{"temperature": 21}'},
    {"role": "assistant", "content": "It is 21 degrees in Paris."},
]
# family fixture -> (named template, what each answer ends with besides its content)
ANSWER_ENDINGS = {
    "llama3": ("llama3", "<|eot_id|>"),
    "qwen3": ("qwen3_nothink", "<|im_end|>\n"),
    "qwen2_5": ("qwen2_5", "<|im_end|>\n"),
    "phi3": ("phi3", "<|end|>"),  # Phi-3's added tokens swallow the "\n" around them
    "gemma3": ("gemma3", "<end_of_turn>\n"),
}


@pytest.mark.parametrize("family", ANSWER_ENDINGS)
def test_answer_spans_are_exactly_the_assistant_contents_and_their_end_of_turn(family, load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer(family)
    name, ending = ANSWER_ENDINGS[family]
    template = get_template(name, tokenizer)
    pairs = template.encode_multiturn(tokenizer, MULTI_TURN)
    contents = [message["content"] for message in MULTI_TURN if message["role"] == "assistant"]
    suffix = "<|endoftext|>" if family == "phi3" else ""  # Phi-3 closes a finished conversation with eos
    expected = [content + ending for content in contents]
    expected[-1] += suffix
    assert [tokenizer.decode(answer) for _, answer in pairs] == expected
    ids = [token for prompt, answer in pairs for token in prompt + answer]
    assert ids == tokenizer(template.render(MULTI_TURN), add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("family", ANSWER_ENDINGS)
def test_auto_answer_spans_hold_the_contents_and_concatenate_to_the_rendering(family, load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer(family)
    template = get_template("auto", tokenizer)
    pairs = template.encode_multiturn(tokenizer, MULTI_TURN)
    contents = [message["content"] for message in MULTI_TURN if message["role"] == "assistant"]
    for (_, answer), content in zip(pairs, contents):
        assert tokenizer.decode(answer).split("</think>")[-1].lstrip("\n").startswith(content)
        assert template.stop_words[0] in tokenizer.decode(answer)
    ids = [token for prompt, answer in pairs for token in prompt + answer]
    assert ids == tokenizer(template.render(MULTI_TURN), add_special_tokens=False)["input_ids"]


def test_qwen3_keeps_only_the_last_thought_and_trains_on_it(load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("qwen3")
    messages = [
        {"role": "user", "content": "1+1?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n2"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd again\n</think>\n\n4"},
    ]
    for name in ("qwen3", "auto"):
        template = get_template(name, tokenizer)
        text = template.render(messages)
        assert "add them" not in text and "<think>\nadd again\n</think>\n\n4<|im_end|>" in text
    named, auto = get_template("qwen3", tokenizer), get_template("auto", tokenizer)
    assert named.render(messages) == auto.render(messages)
    answer = tokenizer.decode(named.encode_multiturn(tokenizer, messages)[-1][1])
    assert answer == "<think>\nadd again\n</think>\n\n4<|im_end|>\n"


def test_qwen3_without_thinking_puts_the_empty_thought_in_the_prompt(load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("qwen3")
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    named = get_template("qwen3", tokenizer, enable_thinking=False)
    prompt, answer = named.encode_multiturn(tokenizer, messages)[0]
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert tokenizer.decode(answer) == "Hello.<|im_end|>\n"
    auto = get_template("auto", tokenizer, enable_thinking=False)
    prompt_only = messages[:1]
    assert named.render(prompt_only, add_generation_prompt=True) == auto.render(prompt_only, add_generation_prompt=True)


@pytest.mark.parametrize("name", ["qwen2_5", "auto"])
def test_tool_calls_render_like_the_official_qwen2_5_template(name, load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("qwen2_5")
    text = get_template(name, tokenizer).render(TOOL_CONVERSATION, tools=TOOLS)
    assert "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools" in text
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in text
    assert '<|im_start|>user\n<tool_response>\n{"temperature": 21}\n</tool_response><|im_end|>' in text


def test_named_and_auto_tool_renderings_agree_for_qwen2_5(load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("qwen2_5")
    named, auto = get_template("qwen2_5", tokenizer), get_template("auto", tokenizer)
    assert named.render(TOOL_CONVERSATION, tools=TOOLS) == auto.render(TOOL_CONVERSATION, tools=TOOLS)
    pairs = auto.encode_multiturn(tokenizer, TOOL_CONVERSATION)
    assert tokenizer.decode(pairs[0][1]).startswith("<tool_call>")


def test_fix_tokenizer_makes_eos_the_end_of_turn_and_sets_pad(load_tokenizer):  # noqa: F811
    tokenizer = load_tokenizer("phi3")
    template = get_template("phi3", tokenizer)
    template.fix_tokenizer(tokenizer)
    assert tokenizer.eos_token == "<|end|>" and template.stop_words == ["<|end|>"]
    assert tokenizer.pad_token is not None


def test_unknown_template_names_the_key_the_value_and_the_nearest_names():
    with pytest.raises(ConfigError, match=r"template 'qwen25' is not a known chat template: did you mean 'qwen2_5'"):
        get_template("qwen25", tokenizer=None)


def test_list_templates_has_every_required_name_and_auto():
    required = (
        "default empty alpaca vicuna llama2 llama3 qwen qwen3 mistral phi gemma glm4 chatglm3 yi baichuan2 "
        "deepseek deepseek3 deepseekr1 granite3 cohere falcon llama3_1 llama3_2 gemma3 phi3 qwen2_5 auto"
    )
    assert set(required.split()) <= set(list_templates())


def test_conversations_that_do_not_alternate_are_rejected():
    with pytest.raises(DatasetError, match="message 1 has role 'user'"):
        get_template("qwen", tokenizer=None).render([{"role": "user", "content": "a"}] * 2)


def test_qwen_and_auto_render_identically_on_the_builtin_model(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    named, auto = get_template("qwen", tokenizer), get_template("auto", tokenizer)
    for messages in (MULTI_TURN, MULTI_TURN[1:]):
        assert named.render(messages) == auto.render(messages)
        named_pairs = named.encode_multiturn(tokenizer, messages)
        ids = [token for prompt, answer in named_pairs for token in prompt + answer]
        assert ids == tokenizer(auto.render(messages), add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(named_pairs[0][1]) == "Seven.<|im_end|>\n"
    prompt = MULTI_TURN[1:2]
    assert named.encode_prompt(tokenizer, prompt) == auto.encode_prompt(tokenizer, prompt)


def test_a_token_across_a_part_boundary_belongs_to_the_part_it_starts_in(tiny_model_dir):
    from transformers import AutoTokenizer

    from workflows.templates.base import tokenize_parts_batch

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "The weather is wonderful tonight."
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    index, (start, end) = next((i, span) for i, span in enumerate(encoding["offset_mapping"]) if span[1] - span[0] >= 3)
    split = start + 1  # inside that token
    [grouped] = tokenize_parts_batch(tokenizer, [[text[:split], text[split:]]])
    assert grouped == [encoding["input_ids"][: index + 1], encoding["input_ids"][index + 1 :]]


def test_conversations_tokenised_in_batches_match_one_at_a_time(tiny_model_dir, monkeypatch):
    from transformers import AutoTokenizer

    import workflows.templates.base as base

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = get_template("qwen", tokenizer)
    conversations = [(MULTI_TURN[: 2 * turns + 1], None) for turns in range(1, 4)] + [(TOOL_CONVERSATION, TOOLS)] * 2
    one_at_a_time = [template.encode_multiturn(tokenizer, messages, tools) for messages, tools in conversations]
    monkeypatch.setattr(base, "TOKENIZE_BATCH", 2)  # batches end inside the list too
    assert template.encode_multiturn_batch(tokenizer, conversations) == one_at_a_time
    assert [len(pairs) for pairs in one_at_a_time] == [1, 2, 3, 2, 2]  # a function call is an answer too
