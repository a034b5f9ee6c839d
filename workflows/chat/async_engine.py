"""Backends with an asyncio API (vLLM, SGLang) behind the synchronous ChatEngine interface.

The backend engine is built on the caller's thread (the main thread of the
CLI or the API server: SGLang and older vLLM insist on it) and driven only
from one event loop running on a daemon thread; callers on any thread (the API server's worker
threads, the terminal, predict) submit work to that loop and read progress
through a queue. Closing a stream aborts the backend request and stops
reading it.

A subclass implements ``_start`` (build the backend engine), ``_generate``
(the request's progress, each carrying the whole answer so far) and
``_abort``. Prompts, validation, user stop strings and the Response are
shared with the Hugging Face backend through ``TemplatedEngine``.
"""

import asyncio
import logging
import queue
import threading
import uuid
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Optional

from workflows.chat.base import Response, TextStream
from workflows.chat.templated import Sampling, TemplatedEngine, context_length_of, cut_at_stops
from workflows.config import RunConfig
from workflows.config.schema import ModelArgs
from workflows.errors import ConfigError
from workflows.models.loader import resolve_model_path

logger = logging.getLogger(__name__)

NOT_APPLIED_MODEL_KEYS = ("quantization_bit", "rope_scaling", "flash_attn")
"""Loading options of the Hugging Face backend; these engines load the checkpoint as saved, with their own kernels."""

ADAPTER_NAME = "adapter"
"""What the one served LoRA adapter is called in backend requests."""

_END = object()


@dataclass(frozen=True)
class Progress:
    """A request's state as the backend reports it: the whole answer so far and its token count;
    ``reason`` is the backend's own finish reason ("stop", "length", "abort"...), None while it runs."""

    text: str
    length: int
    reason: Optional[str] = None


class _Request:
    """One generation running on the engine's loop, read from the caller's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, progress: AsyncIterator[Progress], abort: Callable[[], Awaitable[None]]):
        self.last = Progress("", 0)
        self._loop = loop
        self._abort = abort
        self._aborting: Optional[Future] = None
        self._updates: queue.SimpleQueue = queue.SimpleQueue()
        self._reader = asyncio.run_coroutine_threadsafe(self._forward(progress), loop)
        self._reader.add_done_callback(self._finished)

    async def _forward(self, progress: AsyncIterator[Progress]) -> None:
        async for update in progress:
            self._updates.put(update)

    def _finished(self, reader: Future) -> None:
        error = None if reader.cancelled() else reader.exception()
        self._updates.put(error or _END)

    def cancel(self) -> None:
        """Abort the backend request and stop reading it (the text read so far stays the answer)."""
        if self._aborting is None:
            self._aborting = asyncio.run_coroutine_threadsafe(self._abort(), self._loop)
            self._reader.cancel()

    def texts(self) -> Iterator[str]:
        """The answer's new text, update by update; once they end, ``last`` is the final state."""
        while (update := self._updates.get()) is not _END:
            if isinstance(update, BaseException):
                raise update
            yield update.text[len(self.last.text) :]
            self.last = update
        if self._aborting is not None:
            self._aborting.result()  # a drained stream has told the backend to stop


def finish_reason(progress: Progress, hit_stop: bool = False) -> str:
    """ "length" when the backend ran out of tokens; a stop word, a stop string or a cancel is "stop"."""
    return "length" if progress.reason == "length" and not hit_stop else "stop"


class AsyncEngine(TemplatedEngine):
    """A TemplatedEngine whose backend runs on its own event loop thread; one LoRA adapter at most."""

    backend: str
    """The infer_backend value, for messages."""

    def __init__(self, config: RunConfig):
        super().__init__(config)
        if len(self.adapters) > 1:
            raise ConfigError(
                f"infer_backend={self.backend} applies one LoRA adapter per request, but adapter_name_or_path lists "
                f"{len(self.adapters)}. Merge them into the model first and load the merged folder, or use "
                "infer_backend=huggingface, which merges them in order."
            )
        self._warn_not_applied(config.model)
        self.model_args = config.model
        self.model_path = resolve_model_path(config.model.model_name_or_path)
        self.context_length = context_length_of(self._model_config(), config.data.cutoff_len)
        self._start()  # on the calling thread: SGLang installs signal handlers, and older vLLM checks for the main thread
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name=f"{self.backend}-engine", daemon=True).start()

    def _model_config(self):
        from transformers import AutoConfig

        args = self.model_args
        return AutoConfig.from_pretrained(self.model_path, cache_dir=args.cache_dir, trust_remote_code=args.trust_remote_code)

    def _warn_not_applied(self, model_args: ModelArgs) -> None:
        changed = [key for key in NOT_APPLIED_MODEL_KEYS if getattr(model_args, key) != ModelArgs.model_fields[key].default]
        if changed:
            logger.warning(
                "infer_backend=%s loads the checkpoint as saved, with its own kernels: %s not applied", self.backend, ", ".join(changed)
            )

    def _run(self, work: Awaitable):
        """Run ``work`` on the engine's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    @abstractmethod
    def _start(self) -> None:
        """Build the backend engine; its own tasks start on the engine's loop with the first request."""

    @abstractmethod
    def _generate(self, prompt_ids: list[int], sampling: Sampling, request_id: str) -> AsyncIterator[Progress]:
        """The request's progress until the backend finishes it."""

    @abstractmethod
    async def _abort(self, request_id: str) -> None:
        """Ask the backend to stop generating for ``request_id``."""

    def stream_ids(self, prompt_ids: list[int], stop: Optional[list[str]] = None, **gen) -> TextStream:
        sampling = self.sampling(len(prompt_ids), gen)
        request_id = uuid.uuid4().hex
        request = _Request(self._loop, self._generate(prompt_ids, sampling, request_id), lambda: self._abort(request_id))
        return TextStream(self._pieces(request, stop or [], len(prompt_ids)), cancel=request.cancel)

    def _pieces(self, request: _Request, stops: list[str], prompt_length: int) -> Iterator[str]:
        text, hit_stop = yield from cut_at_stops(request.texts(), stops, request.cancel)
        return Response(text, prompt_length, request.last.length, finish_reason(request.last, hit_stop))

    def batch(self, conversations: list[list[dict]], system: Optional[str] = None, **gen) -> list[Response]:
        """All conversations submitted at once; the backend batches them as they run."""
        prompts = [self.encode(messages, system) for messages in conversations]
        samplings = [self.sampling(len(prompt), gen) for prompt in prompts]

        async def answer(prompt: list[int], sampling: Sampling) -> Response:
            last = Progress("", 0)
            async for last in self._generate(prompt, sampling, uuid.uuid4().hex):  # noqa: B007 (keeps the final progress)
                pass
            return Response(last.text, len(prompt), last.length, finish_reason(last))

        async def answer_all() -> list[Response]:
            return list(await asyncio.gather(*map(answer, prompts, samplings)))

        return self._run(answer_all())
