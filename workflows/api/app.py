"""The FastAPI app: /v1/models and /v1/chat/completions over one ChatEngine.

One generation runs at a time behind an asyncio lock (the model is not shared
between threads); other requests wait their turn instead of failing. Every
error leaves as JSON in OpenAI's error shape. When a request offers ``tools``,
an answer that calls offered functions (read in the template's own style)
comes back as ``tool_calls``. Whether an answer is a call is only known at its
end, so with tools every streamed answer, call or text, arrives whole then.
"""

import json
import logging
import secrets
from typing import Optional

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException

from workflows.api.protocol import ChatCompletionRequest, completion_id, error_body, now, tool_calls_out, usage_counts
from workflows.chat import ChatEngine
from workflows.errors import UserError

logger = logging.getLogger(__name__)


class APIError(Exception):
    def __init__(
        self, status: int, message: str, param: Optional[str] = None, code: Optional[str] = None, type_: str = "invalid_request_error"
    ):
        super().__init__(message)
        self.status, self.body = status, error_body(message, type_, param, code)


def _validation_message(error: RequestValidationError) -> tuple[str, Optional[str]]:
    problem = error.errors()[0]
    location = [str(part) for part in problem.get("loc", ()) if part != "body"]
    if problem.get("type") == "json_invalid":
        return "The request body is not valid JSON.", None
    param = ".".join(location) or None
    return (f"`{param}`: {problem['msg']}" if param else problem["msg"]), param


def create_app(engine: ChatEngine, model_name: str, api_key: Optional[str] = None) -> FastAPI:
    app = FastAPI(title="LlamaBoard API")
    lock = anyio.Lock()

    @app.exception_handler(APIError)
    async def _api_error(_request, error: APIError):
        return JSONResponse(error.body, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, error: RequestValidationError):
        message, param = _validation_message(error)
        return JSONResponse(error_body(message, param=param), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_request, error: HTTPException):
        return JSONResponse(error_body(str(error.detail)), status_code=error.status_code)

    @app.exception_handler(Exception)
    async def _bug(_request, error: Exception):
        logger.exception("request failed")
        return JSONResponse(error_body(f"Internal error: {type(error).__name__}", "server_error"), status_code=500)

    async def authorize(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), api_key.encode()):
            raise APIError(401, "Incorrect or missing API key: send `Authorization: Bearer <API_KEY>`.", code="invalid_api_key")

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": now(), "owned_by": "llamaboard"}]}

    def offered_calls(body: ChatCompletionRequest, text: str) -> list:
        """The calls an answer makes to the request's offered tools; [] when it is plain text."""
        return body.offered_calls(engine.template.function_calls(text)) if body.offered_tools else []

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(body: ChatCompletionRequest):
        if body.model != model_name:
            raise APIError(
                404, f"The model `{body.model}` does not exist here; this server serves `{model_name}`.", "model", "model_not_found"
            )
        try:
            prompt_ids = engine.encode(body.turns(), tools=body.tools_json())
        except UserError as error:
            raise APIError(400, str(error), "messages") from None
        if body.stream:
            return EventSourceResponse(_stream(body, prompt_ids), ping=15)
        return await _complete(body, prompt_ids)

    async def _complete(body: ChatCompletionRequest, prompt_ids: list[int]) -> dict:
        choices, completion_tokens = [], 0
        async with lock:
            for index in range(body.n):
                stream = await run_in_threadpool(engine.stream_ids, prompt_ids, **body.generation())
                text = "".join([piece async for piece in iterate_in_threadpool(stream)])
                completion_tokens += stream.response.response_length
                calls = offered_calls(body, text)
                if calls:
                    message, finish_reason = {"role": "assistant", "content": None, "tool_calls": tool_calls_out(calls)}, "tool_calls"
                else:
                    message, finish_reason = {"role": "assistant", "content": text}, stream.response.finish_reason
                choices.append({"index": index, "message": message, "finish_reason": finish_reason})
        usage = usage_counts(len(prompt_ids), completion_tokens)
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": now(),
            "model": model_name,
            "choices": choices,
            "usage": usage,
        }

    async def _stream(body: ChatCompletionRequest, prompt_ids: list[int]):
        identity = {"id": completion_id(), "object": "chat.completion.chunk", "created": now(), "model": model_name}

        def chunk(choices: list, **extra) -> str:
            return json.dumps({**identity, "choices": choices, **extra}, ensure_ascii=False)

        completion_tokens = 0
        async with lock:
            for index in range(body.n):
                stream = await run_in_threadpool(engine.stream_ids, prompt_ids, **body.generation())
                try:
                    yield chunk([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                    held = []  # with tools, the answer is held back until it is known to be a call or text
                    async for piece in iterate_in_threadpool(stream):
                        if body.offered_tools:
                            held.append(piece)
                        else:
                            yield chunk([{"index": index, "delta": {"content": piece}, "finish_reason": None}])
                    completion_tokens += stream.response.response_length
                    finish_reason = stream.response.finish_reason
                    if body.offered_tools:
                        text = "".join(held)
                        calls = offered_calls(body, text)
                        if calls:
                            delta = {"tool_calls": [{"index": position, **call} for position, call in enumerate(tool_calls_out(calls))]}
                            finish_reason = "tool_calls"
                        else:
                            delta = {"content": text}
                        yield chunk([{"index": index, "delta": delta, "finish_reason": None}])
                    yield chunk([{"index": index, "delta": {}, "finish_reason": finish_reason}])
                finally:
                    stream.close()
                    with anyio.CancelScope(shield=True):  # a client that left still waits for its generation thread to end
                        await run_in_threadpool(_drain, stream)
        if body.stream_options and body.stream_options.include_usage:
            yield chunk([], usage=usage_counts(len(prompt_ids), completion_tokens))
        yield "[DONE]"

    return app


def _drain(stream) -> None:
    for _piece in stream:
        pass
