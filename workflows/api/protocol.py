"""The slice of OpenAI's chat-completions wire format this server speaks.

Request bounds live here, in the schema, so a bad value is refused with a 400
before it reaches the model, and the official client's requests parse as-is:

- ``n`` at most ``MAX_N`` (8; OpenAI allows 128): the choices are generated
  together, as rows of one batch, and one request should not fill a batch;
- ``stop``: at most 4 strings (OpenAI's limit), each at most
  ``MAX_STOP_LENGTH`` characters, since every generated piece is matched
  against each of them;
- no text anywhere may hold a lone surrogate (``"\\ud800"`` is valid JSON
  but no character; the tokenizer cannot encode it), and the body may nest
  at most ``MAX_DEPTH`` levels (a tool's JSON schema included);
- each ``tools`` entry is ``{"type": "function", "function": {"name": ...}}``.
"""

import json
import time
import uuid
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.templates.tools import FunctionCall

MAX_N = 8
MAX_STOP_STRINGS = 4
MAX_STOP_LENGTH = 256
MAX_DEPTH = 64

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "observation"}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class FunctionCallIn(BaseModel):
    name: str
    arguments: str
    """JSON text of the arguments, as OpenAI sends it."""


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Optional[str] = None
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None
    tool_calls: Optional[list[ToolCall]] = None

    @model_validator(mode="after")
    def _has_content(self):
        self.tool_calls = self.tool_calls or None  # several SDKs send [] on plain assistant messages
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("`content` is required (only an assistant message with `tool_calls` may omit it)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry `tool_calls`")
        return self

    def as_turn(self) -> dict:
        """The engine's message: template role names, content as one string; calls as a function_call turn."""
        if self.tool_calls:
            calls = [{"name": call.function.name, "arguments": call.function.arguments} for call in self.tool_calls]
            return {"role": "function_call", "content": json.dumps(calls, ensure_ascii=False)}
        content = self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)
        return {"role": ROLES[self.role], "content": content}


class StreamOptions(BaseModel):
    include_usage: bool = False


def check_text_and_depth(data):
    """Refuse a lone surrogate in any string (keys too) and nesting deeper than MAX_DEPTH, walking without recursion."""
    pending = [(data, 1, "")]
    while pending:
        value, depth, where = pending.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the request nests deeper than {MAX_DEPTH} levels (at `{where}`)")
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(f"`{where or 'body'}` holds a lone surrogate, which is not valid Unicode text") from None
        elif isinstance(value, dict):
            for key, item in value.items():
                pending.append((key, depth, where))
                pending.append((item, depth + 1, f"{where}.{key}" if where else str(key)))
        elif isinstance(value, list):
            pending.extend((item, depth + 1, f"{where}.{index}") for index, item in enumerate(value))
    return data


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    """OpenAI's newer name for ``max_tokens``; ``max_tokens`` wins when both are given."""
    stop: Union[str, list[str], None] = None
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    tools: Optional[list[dict]] = None
    tool_choice: Union[Literal["none", "auto"], None] = None
    """"none" serves the request as if no tools were offered; forcing a call ("required", a named function) is refused."""

    _check_text_and_depth = model_validator(mode="before")(check_text_and_depth)

    @model_validator(mode="after")
    def _one_max_tokens(self):
        self.max_tokens = self.max_tokens or self.max_completion_tokens
        return self

    @field_validator("stop")
    @classmethod
    def _few_short_stops(cls, stop):
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings are allowed, not {len(stops)}")
        if any(len(item) > MAX_STOP_LENGTH for item in stops):
            raise ValueError(f"a stop string may be at most {MAX_STOP_LENGTH} characters long")
        return stop

    @field_validator("tools")
    @classmethod
    def _function_tools(cls, tools):
        for index, tool in enumerate(tools or []):
            function = tool.get("function")
            if tool.get("type", "function") != "function":
                raise ValueError(f'tools.{index}: `type` must be "function"')
            if not isinstance(function, dict):
                raise ValueError(f'tools.{index}: `function` must be an object with a `name`, like {{"name": "get_weather", ...}}')
            if not isinstance(function.get("name"), str) or not function["name"]:
                raise ValueError(f"tools.{index}.function: `name` must be a non-empty string")
            if function.get("parameters") is not None and not isinstance(function["parameters"], dict):
                raise ValueError(f"tools.{index}.function: `parameters` must be a JSON schema object")
        return tools

    def generation(self) -> dict:
        """Engine overrides for the values the request sets; the rest come from the server's config."""
        names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_new_tokens"}
        gen = {names[key]: value for key, value in self.model_dump(include=set(names)).items() if value is not None}
        if self.stop:
            gen["stop"] = [self.stop] if isinstance(self.stop, str) else self.stop
        return gen

    @property
    def offered_tools(self) -> list[dict]:
        """The tools the model may call: none when tool_choice is "none"."""
        return [] if self.tool_choice == "none" else self.tools or []

    def tools_json(self) -> Optional[str]:
        return json.dumps(self.offered_tools, ensure_ascii=False) if self.offered_tools else None

    def offered_calls(self, calls: list[FunctionCall]) -> list[FunctionCall]:
        """``calls`` when every one names an offered tool, else [] (the answer is then plain text)."""
        names = {tool["function"]["name"] for tool in self.offered_tools}
        return calls if calls and all(call.name in names for call in calls) else []

    def turns(self) -> list[dict]:
        """The conversation as engine turns; the results of parallel calls (consecutive tool messages) become one turn."""
        turns: list[dict] = []
        for message in self.messages:
            turn = message.as_turn()
            if turns and turn["role"] == "observation" == turns[-1]["role"]:
                turns[-1] = {"role": "observation", "content": turns[-1]["content"] + "\n" + turn["content"]}
            else:
                turns.append(turn)
        return turns


def tool_calls_out(calls: list[FunctionCall]) -> list[dict]:
    """Function calls read from an answer, as OpenAI's ``tool_calls``."""
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
        }
        for call in calls
    ]


def error_body(message: str, type_: str = "invalid_request_error", param: Optional[str] = None, code: Optional[str] = None) -> dict:
    """OpenAI's error shape, which its clients turn into typed exceptions."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def usage_counts(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
