"""The interface every inference backend offers, so callers never care which one runs.

A backend implements ``encode`` (conversation to prompt ids, validated) and
``stream_ids`` (prompt ids to streamed text); ``chat`` and ``stream_chat``
are built on those two, so streaming and non-streaming answers cannot drift
apart. ``batch`` is separate because batching is where backends differ most.
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal, Optional

from workflows.errors import UserError
from workflows.templates.base import ChatTemplate

FinishReason = Literal["stop", "length"]


class RequestError(UserError):
    """A chat request cannot be served as asked (bad roles, prompt too long, bad sampling values)."""


@dataclass
class Response:
    """One generated answer with the counts the OpenAI API reports as usage."""

    text: str
    prompt_length: int
    response_length: int
    finish_reason: FinishReason


class TextStream:
    """Text pieces as they are generated; ``response`` is filled in once the stream is exhausted.

    ``pieces`` is a generator that yields text and returns the final Response. A backend that can hand
    its text to an event loop directly also gives ``async_pieces``, an async generator that yields the
    same text and then the Response: ``async for`` reads it without a thread (``reads_async`` says whether
    it can). A stream is read one way only.

    ``close()`` asks the backend to stop generating early (a client went away).
    """

    def __init__(self, pieces: Iterator[str], cancel=None, async_pieces: Optional[AsyncIterator] = None):
        self._pieces = pieces
        self._async_pieces = async_pieces
        self._cancel = cancel
        self.response: Optional[Response] = None

    @property
    def reads_async(self) -> bool:
        return self._async_pieces is not None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._async_pieces is None:
            raise TypeError("this backend's streams are read on a thread: iterate with next()")
        return self

    async def __anext__(self) -> str:
        item = await anext(self._async_pieces)
        if isinstance(item, Response):
            self.response = item
            raise StopAsyncIteration
        return item

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)
        except StopIteration as end:
            if end.value is not None:
                self.response = end.value
            raise

    def close(self) -> None:
        if self._cancel is not None:
            self._cancel()


def with_system(messages: list[dict], system: Optional[str]) -> list[dict]:
    """The conversation with ``system`` in front, unless it already starts with a system message."""
    if system and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *messages]
    return list(messages)


class ChatEngine(ABC):
    """Chat with one loaded model (base + adapters); generation settings default to the config's."""

    model_name: str
    context_length: int
    template: ChatTemplate

    @abstractmethod
    def encode(self, messages: list[dict], system: Optional[str] = None, tools: Optional[str] = None) -> list[int]:
        """Prompt ids for a conversation ending in a user turn; raises a UserError when it cannot be served."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of token ids, special tokens included (how predict shows the prompt the model saw)."""

    @abstractmethod
    def stream_ids(self, prompt_ids: list[int], **gen) -> TextStream:
        """Generate from prompt ids, streaming text; ``gen`` overrides GenerationArgs keys and takes ``stop``."""

    def streams(self, prompt_ids: list[int], n: int, **gen) -> list[TextStream]:
        """``n`` answers to the same prompt, started together (a batching backend generates them as rows of one batch)."""
        started: list[TextStream] = []
        try:
            for _ in range(n):
                started.append(self.stream_ids(prompt_ids, **gen))
        except BaseException:
            for stream in started:
                stream.close()
            raise
        return started

    @abstractmethod
    def batch(self, conversations: list[list[dict]], system: Optional[str] = None, **gen) -> list[Response]:
        """One answer per conversation, generated together in batches."""

    def stream_chat(self, messages: list[dict], system: Optional[str] = None, tools: Optional[str] = None, **gen) -> TextStream:
        return self.stream_ids(self.encode(messages, system, tools), **gen)

    def chat(self, messages: list[dict], system: Optional[str] = None, tools: Optional[str] = None, n: int = 1, **gen) -> list[Response]:
        """``n`` complete answers to the same conversation."""
        prompt_ids = self.encode(messages, system, tools)
        responses = []
        for stream in self.streams(prompt_ids, n, **gen):
            for _piece in stream:
                pass
            responses.append(stream.response)
        return responses
