"""How a template shows tool definitions, writes function calls and reads them back.

Datasets give tools as a JSON list of OpenAI function schemas (wrapped as
``{"type": "function", "function": {...}}`` or bare) and a function call as a
JSON ``{"name": ..., "arguments": ...}`` object or a list of them. Each model
family was trained on its own way of writing these; a ``ToolStyle`` holds one,
and reads a generated answer back into calls (what the API returns as
``tool_calls``).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from workflows.errors import DatasetError


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: dict


@dataclass(frozen=True)
class ToolStyle:
    describe: Callable[[list[dict]], str]
    """The text added to the system prompt listing the tools."""
    write_calls: Callable[[list[FunctionCall]], str]
    """The assistant text that makes the calls."""
    read_calls: Callable[[str], list[FunctionCall]]
    """The calls a generated answer makes; [] when it is a plain answer."""


def parse_tools(tools: str) -> list[dict]:
    """The tool schemas of a ``tools`` JSON string, each as a bare function dict."""
    try:
        schemas = json.loads(tools)
    except json.JSONDecodeError as error:
        raise DatasetError(f"tools is not valid JSON ({error}): {tools[:200]!r}") from None
    schemas = schemas if isinstance(schemas, list) else [schemas]
    return [schema.get("function", schema) if schema.get("type") == "function" else schema for schema in schemas]


def parse_function_calls(content: str) -> list[FunctionCall]:
    """The calls of a ``function_call`` turn's content."""
    try:
        calls = json.loads(content)
        calls = calls if isinstance(calls, list) else [calls]
        return [FunctionCall(call["name"], _as_dict(call["arguments"])) for call in calls]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DatasetError(
            f'a function_call turn must hold JSON {{"name": ..., "arguments": ...}} or a list of them ({error}): {content[:200]!r}'
        ) from None


def _as_dict(arguments) -> dict:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def _dumps(value, **kwargs) -> str:
    return json.dumps(value, ensure_ascii=False, **kwargs)


def _wrapped(tool: dict) -> dict:
    return {"type": "function", "function": tool}


def _describe_default(tools: list[dict]) -> str:
    described = []
    for tool in tools:
        properties = tool.get("parameters", {}).get("properties", {})
        required = tool.get("parameters", {}).get("required", [])
        args = "".join(
            f"  - {name} ({param.get('type', '')}{', required' if name in required else ''}): "
            f"{param.get('description', '')}"
            + (f", should be one of [{', '.join(map(str, param['enum']))}]" if param.get("enum") else "")
            + (f", where each item should be {param['items'].get('type', '')}" if param.get("items") else "")
            + "\n"
            for name, param in properties.items()
        )
        described.append(f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\nTool Args:\n{args}\n")
    names = ", ".join(tool["name"] for tool in tools)
    return (
        f"You have access to the following tools:\n{''.join(described)}"
        "Use the following format if using a tool:\n```\n"
        f"Action: tool name (one of [{names}])\n"
        "Action Input: the input to the tool, in a JSON format representing the kwargs "
        '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n'
    )


def _describe_qwen(tools: list[dict]) -> str:
    listed = "".join("\n" + _dumps(_wrapped(tool)) for tool in tools)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        f"You are provided with function signatures within <tools></tools> XML tags:\n<tools>{listed}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}'
        "\n</tool_call>"
    )


def _describe_llama3(tools: list[dict]) -> str:
    listed = "".join(_dumps(_wrapped(tool), indent=4) + "\n\n" for tool in tools)
    return (
        "You have access to the following functions. To call a function, please respond with JSON for a function "
        'call. Respond in the format {"name": function name, "parameters": dictionary of argument name and its '
        f"value}}. Do not use variables.\n\n{listed}"
    )


def _describe_glm4(tools: list[dict]) -> str:
    listed = "".join(
        f"\n\n## {tool['name']}\n\n{_dumps(tool, indent=4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。" for tool in tools
    )
    return (
        "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，"
        f"你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{listed}"
    )


def _write_glm4(calls: list[FunctionCall]) -> str:
    if len(calls) > 1:
        raise DatasetError("GLM-4 templates cannot make parallel function calls: give one call per function_call turn")
    return f"{calls[0].name}\n{_dumps(calls[0].arguments)}"


def _calls_from_json(text: str, arguments_key: str) -> list[FunctionCall]:
    """Calls written as one JSON object or a list of them, each with ``name`` and ``arguments_key``."""
    try:
        calls = json.loads(text.strip())
    except json.JSONDecodeError:
        return []
    calls = calls if isinstance(calls, list) else [calls]
    if not calls or not all(isinstance(call, dict) and isinstance(call.get("name"), str) and arguments_key in call for call in calls):
        return []
    return _checked([(call["name"], call[arguments_key]) for call in calls])


def _checked(found: list[tuple[str, object]]) -> list[FunctionCall]:
    """Calls whose arguments are a JSON object (or its text); [] when any is not."""
    calls = []
    for name, arguments in found:
        try:
            arguments = _as_dict(arguments)
        except (json.JSONDecodeError, TypeError):
            return []
        if not isinstance(arguments, dict):
            return []
        calls.append(FunctionCall(name, arguments))
    return calls


def _read_default(text: str) -> list[FunctionCall]:
    found = re.findall(r"Action:\s*(.+?)\s*Action Input:\s*(.*?)(?=\s*Action:|\Z)", text, re.DOTALL)
    return _checked([(name.strip(), arguments.strip().strip("`")) for name, arguments in found])


def _read_qwen(text: str) -> list[FunctionCall]:
    blocks = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", text, re.DOTALL)
    calls = [_calls_from_json(block, "arguments") for block in blocks]
    return [call for found in calls for call in found] if blocks and all(calls) else []


def _read_glm4(text: str) -> list[FunctionCall]:
    name, _, arguments = text.strip().partition("\n")
    return _checked([(name, arguments)]) if re.fullmatch(r"[A-Za-z_][\w.-]*", name) else []


TOOL_STYLES = {
    "default": ToolStyle(
        _describe_default,
        lambda calls: "\n".join(f"Action: {call.name}\nAction Input: {_dumps(call.arguments)}" for call in calls),
        _read_default,
    ),
    "qwen": ToolStyle(
        _describe_qwen,
        lambda calls: "\n".join(
            f'<tool_call>\n{{"name": "{call.name}", "arguments": {_dumps(call.arguments)}}}\n</tool_call>' for call in calls
        ),
        _read_qwen,
    ),
    "llama3": ToolStyle(
        _describe_llama3,
        lambda calls: _dumps(
            [{"name": call.name, "parameters": call.arguments} for call in calls]
            if len(calls) > 1
            else {"name": calls[0].name, "parameters": calls[0].arguments}
        ),
        lambda text: _calls_from_json(text, "parameters"),
    ),
    "mistral": ToolStyle(
        lambda tools: "[AVAILABLE_TOOLS] " + _dumps([_wrapped(tool) for tool in tools]) + "[/AVAILABLE_TOOLS]",
        lambda calls: _dumps([{"name": call.name, "arguments": call.arguments} for call in calls]),
        lambda text: _calls_from_json(text.strip().removeprefix("[TOOL_CALLS]"), "arguments"),
    ),
    "glm4": ToolStyle(_describe_glm4, _write_glm4, _read_glm4),
}


def read_function_calls(text: str, style: str | None) -> list[FunctionCall]:
    """The calls in a generated answer, read the way ``style`` writes them.

    ``None`` (a tokenizer's own Jinja template, whose style is unknown) tries
    the widespread styles in turn: Hermes/Qwen tags, then bare JSON calls with
    ``arguments`` (Mistral) or ``parameters`` (Llama 3).
    """
    if style is not None:
        return TOOL_STYLES[style].read_calls(text)
    return next((calls for style in ("qwen", "mistral", "llama3") if (calls := TOOL_STYLES[style].read_calls(text))), [])
