"""Tool calls through the API with the official `openai` client: tools offered, calls returned
as `tool_calls`, and a call's result sent back as a `tool` message.

The built-in tiny model cannot be made to write a function call, so here a
scripted engine stands in for the model: it answers with fixed text and
records the prompt it was given. The server, the wire format and the
template that renders tools and reads calls back are the real ones.
"""

import json
import threading
import time

import openai
import pytest
import uvicorn

from workflows.api.app import create_app
from workflows.api.process import free_port
from workflows.chat.base import ChatEngine, Response, TextStream
from workflows.templates import get_template
from workflows.templates.tools import TOOL_STYLES, FunctionCall, read_function_calls

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


class ScriptedEngine(ChatEngine):
    """Answers every prompt with ``self.answer``; keeps the rendered prompts it was asked to continue."""

    model_name, context_length = "scripted", 4096

    def __init__(self):
        self.template = get_template("qwen", None)
        self.answer = CALL
        self.prompts: list[str] = []

    def encode(self, messages, system=None, tools=None):
        self.prompts.append(self.template.render(messages, tools, add_generation_prompt=True))
        return list(range(len(self.prompts[-1].split())))

    def decode(self, ids):
        return " ".join(map(str, ids))

    def stream_ids(self, prompt_ids, **gen):
        def pieces():
            words = self.answer.split(" ")
            yield from (word if index == 0 else " " + word for index, word in enumerate(words))
            return Response(self.answer, len(prompt_ids), len(words), "stop")

        return TextStream(pieces())

    def batch(self, conversations, system=None, **gen):
        return [self.chat(messages, system)[0] for messages in conversations]


@pytest.fixture(scope="module")
def served():
    engine = ScriptedEngine()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine, "scripted"), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield engine, openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    server.should_exit = True
    thread.join(timeout=10)


ASK = [{"role": "user", "content": "Weather in Paris?"}]


def test_an_answer_that_calls_a_tool_comes_back_as_tool_calls(served):
    engine, client = served
    engine.answer = CALL
    choice = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert '"name": "get_weather"' in engine.prompts[-1] and "<tools>" in engine.prompts[-1]


def test_streamed_tool_calls_arrive_whole(served):
    engine, client = served
    engine.answer = CALL
    chunks = list(client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL], stream=True))
    calls = [call for chunk in chunks for call in (chunk.choices[0].delta.tool_calls or [])]
    assert [(call.function.name, json.loads(call.function.arguments)) for call in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_") and calls[0].type == "function"  # what the client's stream accumulator needs
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_plain_answer_stays_text_even_with_tools(served):
    engine, client = served
    engine.answer = "It is sunny in Paris."
    choice = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL]).choices[0]
    assert (choice.message.content, choice.message.tool_calls, choice.finish_reason) == ("It is sunny in Paris.", None, "stop")
    streamed = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL], stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == "It is sunny in Paris."


def test_without_tools_a_call_shaped_answer_is_just_text(served):
    engine, client = served
    engine.answer = CALL
    choice = client.chat.completions.create(model="scripted", messages=ASK).choices[0]
    assert choice.message.content == CALL and choice.finish_reason == "stop"


def test_the_calls_and_their_results_go_back_into_the_prompt(served):
    engine, client = served
    engine.answer = "Sunny, 21 degrees."
    conversation = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny", "celsius": 21}'},
    ]
    answer = client.chat.completions.create(model="scripted", messages=conversation, tools=[WEATHER_TOOL]).choices[0].message.content
    assert answer == "Sunny, 21 degrees."
    prompt = engine.prompts[-1]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert '<tool_response>\n{"sky": "sunny", "celsius": 21}\n</tool_response>' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tool_choice_none_serves_the_request_as_if_no_tools_were_offered(served):
    engine, client = served
    engine.answer = CALL
    choice = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL], tool_choice="none").choices[0]
    assert choice.message.content == CALL and choice.finish_reason == "stop"
    assert "<tools>" not in engine.prompts[-1]


def test_forcing_a_call_is_refused_with_a_400(served):
    _, client = served
    with pytest.raises(openai.BadRequestError, match="tool_choice"):
        client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL], tool_choice="required")


def test_a_call_to_a_tool_that_was_not_offered_stays_text(served):
    engine, client = served
    engine.answer = '<tool_call>\n{"name": "delete_everything", "arguments": {}}\n</tool_call>'
    choice = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL]).choices[0]
    assert choice.message.content == engine.answer and choice.message.tool_calls is None


def test_an_empty_tool_calls_list_on_a_plain_answer_is_accepted(served):
    engine, client = served
    engine.answer = "Fine."
    conversation = [*ASK, {"role": "assistant", "content": "Let me think.", "tool_calls": []}, {"role": "user", "content": "Well?"}]
    assert client.chat.completions.create(model="scripted", messages=conversation).choices[0].message.content == "Fine."
    assert "Let me think.<|im_end|>" in engine.prompts[-1]


def test_a_message_without_content_or_calls_is_a_400(served):
    _, client = served
    with pytest.raises(openai.BadRequestError, match="content"):
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": None}])


@pytest.mark.parametrize("style", sorted(TOOL_STYLES))
def test_every_tool_style_reads_back_the_calls_it_writes(style):
    calls = [FunctionCall("get_weather", {"city": "Paris", "days": 2})]
    if style != "glm4":  # GLM-4 writes one call per turn
        calls.append(FunctionCall("get_time", {}))
    assert read_function_calls(TOOL_STYLES[style].write_calls(calls), style) == calls
    assert read_function_calls("Paris is sunny today.", style) == []


@pytest.mark.parametrize(
    "answer",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    ],
)
def test_a_tokenizer_template_reads_hermes_tags_or_bare_json(answer):
    assert read_function_calls(answer, None) == [FunctionCall("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize(
    "answer", ["<tool_call>not json</tool_call>", '{"name": "f", "arguments": [1, 2]}', "Action: f\nAction Input: oops", "[]"]
)
def test_malformed_calls_read_as_plain_text(answer):
    assert all(read_function_calls(answer, style) == [] for style in [None, *TOOL_STYLES] if style != "glm4")
