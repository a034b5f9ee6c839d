"""How a template shows tool definitions and writes function calls.

Datasets give tools as a JSON list of OpenAI function schemas (wrapped as
``{"type": "function", "function": {...}}`` or bare) and a function call as a
JSON ``{"name": ..., "arguments": ...}`` object or a list of them. Each model
family was trained on its own way of writing these; a ``ToolStyle`` holds one.
"""

import json
from dataclasses import dataclass
from typing import Callable

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
            f'a function_call turn must hold JSON {{"name": ..., "arguments": ...}} or a list of them ({error}): '
            f"{content[:200]!r}"
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
        described.append(
            f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\nTool Args:\n{args}\n"
        )
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
        f"\n\n## {tool['name']}\n\n{_dumps(tool, indent=4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。"
        for tool in tools
    )
    return (
        "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，"
        f"你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{listed}"
    )


def _write_glm4(calls: list[FunctionCall]) -> str:
    if len(calls) > 1:
        raise DatasetError(
            "GLM-4 templates cannot make parallel function calls: give one call per function_call turn"
        )
    return f"{calls[0].name}\n{_dumps(calls[0].arguments)}"


TOOL_STYLES = {
    "default": ToolStyle(
        _describe_default,
        lambda calls: "\n".join(f"Action: {call.name}\nAction Input: {_dumps(call.arguments)}" for call in calls),
    ),
    "qwen": ToolStyle(
        _describe_qwen,
        lambda calls: "\n".join(
            f'<tool_call>\n{{"name": "{call.name}", "arguments": {_dumps(call.arguments)}}}\n</tool_call>'
            for call in calls
        ),
    ),
    "llama3": ToolStyle(
        _describe_llama3,
        lambda calls: _dumps(
            [{"name": call.name, "parameters": call.arguments} for call in calls]
            if len(calls) > 1
            else {"name": calls[0].name, "parameters": calls[0].arguments}
        ),
    ),
    "mistral": ToolStyle(
        lambda tools: "[AVAILABLE_TOOLS] " + _dumps([_wrapped(tool) for tool in tools]) + "[/AVAILABLE_TOOLS]",
        lambda calls: _dumps([{"name": call.name, "arguments": call.arguments} for call in calls]),
    ),
    "glm4": ToolStyle(_describe_glm4, _write_glm4),
}
