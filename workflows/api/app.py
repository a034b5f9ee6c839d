"""The FastAPI app: /v1/models and /v1/chat/completions over one ChatEngine.

Requests are served concurrently: the engine batches them (the Hugging Face
backend's scheduler; vLLM and SGLang batch on their own). Tokenisation of
all but short requests runs on worker threads, never on the event loop, so a
large request cannot stall the others; generated text is read on the loop where the backend hands it
over directly (Hugging Face), else on a worker thread per stream. A request whose client
disconnects, streaming or not, closes its streams, which stops its
generation (or drops it from the queue when it has not started).

Limits, refused with a 400 (or 413) before anything is generated, in
OpenAI's error shape: the body size (``max_body_bytes``), the schema's limits
in ``protocol`` (``n``, stop strings, nesting depth, valid Unicode, the shape
of ``tools``), and ``max_tokens`` beyond the room the prompt leaves in the
model's context (as OpenAI and vLLM do). An unexpected error is a 500 that
leaves the connection open for the client's next request.

When a request offers ``tools``, an answer that calls offered functions (read in the template's own style)
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
from starlette.exceptions import HTTPException

from workflows.api.protocol import ChatCompletionRequest, completion_id, error_body, now, tool_calls_out, usage_counts
from workflows.chat import ChatEngine, TextStream
from workflows.errors import UserError

logger = logging.getLogger(__name__)

INLINE_BODY_BYTES = 8192
"""A request body up to this size is tokenised on the event loop: that takes well under a millisecond, less than the
trip to a worker thread and back, which is most of a short request's time to first token."""


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


def default_max_body_bytes(context_length: int) -> int:
    """A body holding a full context in the most verbose JSON (``\\uXXXX`` escapes, about 4 characters a token), at least 1 MiB."""
    return max(1 << 20, 32 * context_length)


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is a 413, by its Content-Length or as it arrives."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def _refusal(self) -> str:
        return f"The request body is larger than this server accepts ({self.limit} bytes)."

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            response = JSONResponse(error_body(self._refusal(), code="request_too_large"), status_code=413, headers={"connection": "close"})
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self._refusal())
            return message

        await self.app(scope, limited_receive, send)


class CatchErrors:
    """ASGI middleware: an unexpected error becomes a 500 in OpenAI's shape without being raised further.

    Starlette's own last-resort handler answers and then re-raises, and uvicorn closes the connection of a
    request that raised: a client's pooled keep-alive connection would die with it.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            logger.exception("request failed")
            if started or scope["type"] != "http":
                raise  # half a response went out: only closing the connection can tell the client
            body = error_body(f"Internal error: {type(error).__name__}", "server_error")
            await JSONResponse(body, status_code=500)(scope, receive, send)


def create_app(engine: ChatEngine, model_name: str, api_key: Optional[str] = None, max_body_bytes: Optional[int] = None) -> FastAPI:
    app = FastAPI(title="LlamaBoard API")
    app.add_middleware(BodyLimit, limit=max_body_bytes or default_max_body_bytes(engine.context_length))
    app.add_middleware(CatchErrors)
    readers = anyio.CapacityLimiter(1024)  # threads that wait for generated text: one per open stream of a backend read on threads
    tokenizers = anyio.CapacityLimiter(2)  # a long prompt takes a lot of memory while it is tokenised: a few at a time

    async def pieces(stream: TextStream):
        """The stream's text pieces: on this loop when the backend can hand them over directly, else each on a worker thread."""
        if stream.reads_async:
            async for piece in stream:
                yield piece
            return
        while (piece := await anyio.to_thread.run_sync(next, stream, None, limiter=readers)) is not None:
            yield piece

    @app.exception_handler(APIError)
    async def _api_error(_request, error: APIError):
        return JSONResponse(error.body, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, error: RequestValidationError):
        message, param = _validation_message(error)
        return JSONResponse(error_body(message, param=param), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_request, error: HTTPException):
        code = "request_too_large" if error.status_code == 413 else None
        return JSONResponse(error_body(str(error.detail), code=code), status_code=error.status_code)

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

    def start(body: ChatCompletionRequest) -> tuple[list[int], list[TextStream]]:
        """Tokenise the request, check its room in the context and queue its answers: one trip to a worker thread."""
        try:
            prompt_ids = engine.encode(body.turns(), tools=body.tools_json())
        except UserError as error:
            raise APIError(400, str(error), "messages") from None
        if body.max_tokens is not None and len(prompt_ids) + body.max_tokens > engine.context_length:
            raise APIError(
                400,
                f"This model's maximum context length is {engine.context_length} tokens. However, you requested "
                f"{len(prompt_ids) + body.max_tokens} tokens ({len(prompt_ids)} in the messages, {body.max_tokens} in the completion). "
                "Please reduce the length of the messages or completion.",
                "max_tokens",
                "context_length_exceeded",
            )
        try:
            return prompt_ids, engine.streams(prompt_ids, body.n, **body.generation())
        except UserError as error:
            raise APIError(400, str(error)) from None

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        if body.model != model_name:
            raise APIError(
                404, f"The model `{body.model}` does not exist here; this server serves `{model_name}`.", "model", "model_not_found"
            )
        if int(request.headers.get("content-length") or 0) <= INLINE_BODY_BYTES:
            prompt_ids, streams = start(body)
        else:
            prompt_ids, streams = await anyio.to_thread.run_sync(start, body, limiter=tokenizers)
        if body.stream:
            return EventSourceResponse(_stream(body, prompt_ids, streams), ping=15)
        return await _complete(body, prompt_ids, streams, request)

    async def _complete(body: ChatCompletionRequest, prompt_ids: list[int], streams: list[TextStream], request: Request):
        texts = [""] * len(streams)
        gone = False

        async def read(index: int) -> None:
            texts[index] = "".join([piece async for piece in pieces(streams[index])])

        async def watch(scope: anyio.CancelScope) -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            for stream in streams:
                stream.close()  # the readers then end within a generation step
            scope.cancel()

        try:
            async with anyio.create_task_group() as watching:
                watching.start_soon(watch, watching.cancel_scope)
                async with anyio.create_task_group() as reading:
                    for index in range(len(streams)):
                        reading.start_soon(read, index)
                watching.cancel_scope.cancel()
        finally:
            for stream in streams:
                stream.close()
        if gone:
            return JSONResponse(error_body("The client closed the connection.", code="client_closed"), status_code=499)
        choices, completion_tokens = [], 0
        for index, (stream, text) in enumerate(zip(streams, texts)):
            completion_tokens += stream.response.response_length
            calls = offered_calls(body, text)
            if calls:
                message, finish_reason = {"role": "assistant", "content": None, "tool_calls": tool_calls_out(calls)}, "tool_calls"
            else:
                message, finish_reason = {"role": "assistant", "content": text}, stream.response.finish_reason
            choices.append({"index": index, "message": message, "finish_reason": finish_reason})
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": now(),
            "model": model_name,
            "choices": choices,
            "usage": usage_counts(len(prompt_ids), completion_tokens),
        }

    async def _stream(body: ChatCompletionRequest, prompt_ids: list[int], streams: list[TextStream]):
        identity = {"id": completion_id(), "object": "chat.completion.chunk", "created": now(), "model": model_name}

        def chunk(choices: list, **extra) -> str:
            return json.dumps({**identity, "choices": choices, **extra}, ensure_ascii=False)

        completion_tokens = 0
        try:
            for index, stream in enumerate(streams):
                yield chunk([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                held = []  # with tools, the answer is held back until it is known to be a call or text
                async for piece in pieces(stream):
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
            if body.stream_options and body.stream_options.include_usage:
                yield chunk([], usage=usage_counts(len(prompt_ids), completion_tokens))
        except Exception as error:  # the 200 has gone out: say so in the stream, as vLLM does, and end it properly
            logger.exception("stream failed")
            yield json.dumps(error_body(f"Internal error: {type(error).__name__}", "server_error"))
        finally:
            for stream in streams:
                stream.close()
            with anyio.CancelScope(shield=True):  # a client that left still waits for its generation to end
                for stream in streams:
                    async for _piece in pieces(stream):
                        pass
        yield "[DONE]"

    return app
