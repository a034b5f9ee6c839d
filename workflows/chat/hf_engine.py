"""The default backend: Hugging Face transformers on whatever device torch sees, with requests batched together.

Every answer (a stream, each of ``n`` choices, each conversation of
``batch``) is a job handed to one scheduler thread, the only thread that runs
the model. The scheduler groups the waiting jobs that share sampling settings
into one left-padded ``generate`` call (at most ``MAX_BATCH_ROWS`` rows) and
hands each row's tokens to its reader as they come; the reader decodes them
(``IncrementalDecoder``), so decoding runs on the callers' threads.

Requests that arrive while a batch runs are not left waiting for it to end:
at the next step the batch yields (a stopping criterion ends ``generate``),
and the unfinished rows are queued again with what they generated so far as
part of their prompt, so the next call runs them together with the newcomers
("continuous batching by recompute": the yielding costs one prefill). A batch
also yields when a request it cannot take (other sampling settings, or no
room) has waited ``SLICE_S``, so different settings take turns.

A row ends at the template's stop words (they are eos ids here), at its own
``max_new_tokens``, when its reader closes the stream (a client went away) or
at a user stop string (the reader closes it). A job whose stream is closed
while it waits is dropped without running. When the queue runs empty the
scheduler hands freed memory back to the system each second it stays empty.
"""

import asyncio
import atexit
import collections
import contextlib
import ctypes
import ctypes.util
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Optional

from workflows.chat.base import Response, TextStream
from workflows.chat.streamer import IncrementalDecoder
from workflows.chat.templated import StopStrings, TemplatedEngine, context_length_of
from workflows.config import RunConfig
from workflows.models.loader import load_model, merge_adapters

MAX_BATCH_ROWS = int(os.environ.get("LLAMABOARD_MAX_BATCH", "16"))
"""Most answers generated in one batch (environment: LLAMABOARD_MAX_BATCH)."""
SLICE_S = 2.0
"""How long a request that cannot join the running batch waits before that batch yields to it."""
MIN_STEPS = 4
"""Steps a batch runs before it yields to newcomers, so a trickle of requests cannot make it re-prefill every step."""
IDLE_RELEASE_S = 1.0
"""Freed memory goes back to the system each time the queue has stayed empty this long (also after requests that
were refused before they reached it), not as soon as it empties: a client's next request, sent as the last answer
ends, then finds its memory still mapped rather than faulting it in again."""

_END = object()


class _Outbox:
    """What the scheduler thread hands one job's reader: its tokens, then ``_END`` or the error that ended it.

    Read on a thread (``take`` blocks) or on an event loop (``atake`` awaits, with no thread of its own:
    the API reads every stream this way, so a token reaches the client with one wake-up, not two).
    """

    def __init__(self):
        self._items: list = []
        self._cond = threading.Condition(threading.Lock())
        self._waiter: Optional[asyncio.Future] = None

    def put(self, item) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed (the server is stopping): nobody is reading
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    def take(self) -> list:
        """Everything put since the last take; waits for at least one item."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            items, self._items = self._items, []
        return items

    async def atake(self) -> list:
        with self._cond:
            waiter = None if self._items else asyncio.get_running_loop().create_future()
            self._waiter = waiter
        if waiter is not None:
            try:
                await waiter
            except BaseException:  # the reader was cancelled (its client left): no one to wake any more
                with self._cond:
                    if self._waiter is waiter:
                        self._waiter = None
                raise
        with self._cond:
            items, self._items = self._items, []
        return items


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():  # a reader whose client left was cancelled while it waited
        waiter.set_result(None)


class _Reader:
    """Turns what a job's outbox holds into text safe to show: decoded, cut at the user's stop strings."""

    def __init__(self, job: "_Job", tokenizer, stops: list[str], cancel):
        self.job = job
        self.decoder = IncrementalDecoder(tokenizer)
        self.stops = StopStrings(stops, cancel)
        self.ended = False

    def text_of(self, items: list) -> str:
        """The text ``items`` make safe to show ("" when none yet); raises the error that ended the job."""
        last = items[-1]
        if isinstance(last, BaseException):
            raise last
        text = self.stops.feed(self.decoder.add([item for item in items if isinstance(item, int)]))
        if last is _END:
            self.ended = True
            text += self.stops.feed(self.decoder.flush()) + self.stops.rest()
        return text

    def response(self) -> Response:
        job, ids = self.job, self.decoder.ids
        ended = self.stops.hit_stop or (ids and ids[-1] in job.stop_ids) or len(ids) < job.max_new_tokens
        return Response(self.stops.text, len(job.prompt_ids), len(ids), "stop" if ended else "length")


class _Job:
    """One answer: its prompt, its settings, the tokens generated so far and the queue its reader takes them from."""

    def __init__(self, prompt_ids: list[int], settings: dict, max_new_tokens: int):
        self.prompt_ids = prompt_ids
        self.settings = settings
        self.key = tuple(sorted((name, str(value)) for name, value in settings.items()))
        self.max_new_tokens = max_new_tokens
        self.stop_ids = set(settings["eos_token_id"])
        self.ids: list[int] = []
        self.done = False
        self.cancelled = threading.Event()
        self.out = _Outbox()
        self.since = time.monotonic()

    def finish(self, error: Optional[BaseException] = None) -> None:
        if not self.done:
            self.done = True
            self.out.put(error or _END)


class Scheduler:
    """Queues jobs and runs them in batches on its own thread; ``run_batch(rows, control)`` generates one batch."""

    def __init__(self, run_batch, max_rows: int = MAX_BATCH_ROWS, slice_s: float = SLICE_S):
        self._run_batch = weakref.WeakMethod(run_batch)  # the thread ends once the engine is gone
        self.max_rows, self.slice_s = max_rows, slice_s
        self._cond = threading.Condition()
        self._waiting: list[_Job] = []
        self._held = 0
        self.batch_rows: collections.deque[int] = collections.deque(maxlen=1000)
        """Rows of each ``generate`` call, newest last (what tests and benchmarks read)."""
        self.running: list[_Job] = []
        """The rows of the batch being generated now."""
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="hf-scheduler", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def close(self, timeout_s: float = 30) -> None:
        """End every job, let the running batch stop at its next step and wait for the thread.

        A process must not exit while this thread is inside ``generate``: torch then aborts the
        interpreter ("terminate called without an active exception"). Runs at exit by itself.
        """
        with self._cond:
            self._closed = True
            for job in [*self._waiting, *self.running]:
                job.cancelled.set()
            for job in self._waiting:
                job.finish()
            self._waiting.clear()
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def submit(self, jobs: list[_Job]) -> None:
        with self._cond:
            if self._closed:
                for job in jobs:
                    job.finish(RuntimeError("the model was unloaded"))
                return
            self._waiting.extend(jobs)
            self._cond.notify()

    def cancel(self, job: _Job) -> None:
        """Stop ``job``: a waiting one ends now, a running one at its batch's next step."""
        job.cancelled.set()
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                job.finish()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def busy(self) -> bool:
        """Whether any job waits or runs."""
        with self._cond:
            return bool(self._waiting) or any(not job.done for job in self.running)

    @contextlib.contextmanager
    def hold(self):
        """Start no batch inside this block (the batch already running goes on): requests queue up, for tests."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify()

    def should_yield(self, rows: list[_Job], steps: int) -> bool:
        """Whether the running batch, ``steps`` tokens in, should end now so that waiting jobs can run (see the module's docstring)."""
        with self._cond:
            if not self._waiting:
                return False
            active = sum(not job.done for job in rows)
            if steps >= MIN_STEPS and active < self.max_rows and any(job.key == rows[0].key for job in self._waiting):
                return True
            return time.monotonic() - min(job.since for job in self._waiting) > self.slice_s

    def _next_rows(self) -> Optional[list[_Job]]:
        """The next batch's rows, as soon as a job waits; None once the engine is gone.

        An idle scheduler does not wait for more requests to gather: a lone request starts at once, and
        requests sent together with it (they arrive milliseconds apart) join at its batch's next yield.
        """
        with self._cond:
            while not self._closed and (not self._waiting or self._held):
                if self._cond.wait(timeout=IDLE_RELEASE_S):
                    continue
                if self._run_batch() is None:
                    return None
                self._cond.release()  # requests may queue meanwhile
                try:
                    _release_memory()
                finally:
                    self._cond.acquire()
            if self._closed:
                return None
            oldest = min(self._waiting, key=lambda job: job.since)
            rows = sorted((job for job in self._waiting if job.key == oldest.key), key=lambda job: job.since)[: self.max_rows]
            for job in rows:
                self._waiting.remove(job)
            self.running = rows
            return rows

    def _loop(self) -> None:
        while True:
            rows = self._next_rows()
            if rows is None:
                return
            run_batch = self._run_batch()
            if run_batch is None:
                return
            self.batch_rows.append(len(rows))
            try:
                yielded = run_batch(rows, self)
            except BaseException as error:  # every reader of the batch re-raises it
                yielded = False
                for job in rows:
                    job.finish(error)
            finally:
                del run_batch  # no strong reference to the engine while idle
            again = [job for job in rows if yielded and not job.done and not job.cancelled.is_set()]
            for job in rows:
                if job not in again:
                    job.finish()
            now = time.monotonic()
            for job in again:
                job.since = now
            self.submit(again)


def _release_memory() -> None:
    """Give freed heap (and cached GPU memory) back to the system, so an idle server shrinks back after a burst."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


class HuggingFaceEngine(TemplatedEngine):
    def __init__(self, config: RunConfig):
        import torch

        from workflows.chat.first_token import FirstToken

        super().__init__(config)
        model = merge_adapters(load_model(config.model, self.tokenizer), self.adapters)
        self.model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        self.context_length = context_length_of(model.config, config.data.cutoff_len)
        self.first_token = FirstToken(self.model)  # imported here: it imports torch
        self.scheduler = Scheduler(self._generate)

    def _generation_kwargs(self, prompt_length: int, overrides: dict) -> dict:
        """``generate`` arguments: the request's ``sampling`` in transformers' terms."""
        sampling = self.sampling(prompt_length, overrides)
        kwargs = {
            "max_new_tokens": sampling.max_new_tokens,
            "repetition_penalty": sampling.repetition_penalty,
            "do_sample": not sampling.greedy,
            "eos_token_id": list(self.stop_ids),
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sampling.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        return kwargs

    def _job(self, prompt_ids: list[int], gen: dict) -> _Job:
        settings = self._generation_kwargs(len(prompt_ids), gen)
        return _Job(list(prompt_ids), settings, settings.pop("max_new_tokens"))

    def stream_ids(self, prompt_ids: list[int], stop: Optional[list[str]] = None, **gen) -> TextStream:
        job = self._job(prompt_ids, gen)
        self.scheduler.submit([job])
        return self._stream(job, stop or [])

    def streams(self, prompt_ids: list[int], n: int, stop: Optional[list[str]] = None, **gen) -> list[TextStream]:
        jobs = [self._job(prompt_ids, gen) for _ in range(n)]
        self.scheduler.submit(jobs)  # all at once: one batch
        return [self._stream(job, stop or []) for job in jobs]

    def _stream(self, job: _Job, stops: list[str]) -> TextStream:
        def cancel() -> None:
            self.scheduler.cancel(job)

        reader = _Reader(job, self.tokenizer, stops, cancel)
        stream = TextStream(_pieces(reader), cancel=cancel, async_pieces=_async_pieces(reader))
        weakref.finalize(stream, cancel)  # dropped unread (its client left before the answer began): the job stops too
        return stream

    def _generate(self, rows: list[_Job], scheduler: Scheduler) -> bool:
        """One ``generate`` call over ``rows`` (run by the scheduler thread); True when it ended early to let others in."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Control(StoppingCriteria):
            """Hands each row's new token to its reader and says which rows are finished, or that the batch yields."""

            yielded = False
            steps = 0

            def __call__(self, input_ids, scores, **_):
                self.steps += 1
                for job, token in zip(rows, input_ids[:, -1].tolist()):
                    if job.done:
                        continue
                    if job.cancelled.is_set():
                        job.finish()
                        continue
                    job.ids.append(token)
                    job.out.put(token)
                    if token in job.stop_ids or len(job.ids) >= job.max_new_tokens:
                        job.finish()
                finished = [job.done for job in rows]
                if not all(finished) and scheduler.should_yield(rows, self.steps):
                    self.yielded = True
                    finished = [True] * len(rows)
                return torch.tensor(finished, dtype=torch.bool, device=input_ids.device)

        control = Control()
        prompts = [job.prompt_ids + job.ids for job in rows]
        padded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.model.device)
        max_new_tokens = max(job.max_new_tokens - len(job.ids) for job in rows)
        settings = rows[0].settings
        with torch.inference_mode():
            plan = self.first_token.plan(rows[0].key, settings)
            if plan is not None:  # the first token before generate's set-up (workflows.chat.first_token)
                first, cache = self.first_token.prefill(padded, plan)
                padded = {
                    "input_ids": torch.cat([padded["input_ids"], first], dim=1),
                    "attention_mask": torch.cat([padded["attention_mask"], torch.ones_like(first)], dim=1),
                }
                if control(padded["input_ids"], None).all() or max_new_tokens == 1:
                    return control.yielded
                settings, max_new_tokens = {**settings, "past_key_values": cache}, max_new_tokens - 1
            self.model.generate(**padded, stopping_criteria=StoppingCriteriaList([control]), max_new_tokens=max_new_tokens, **settings)
        return control.yielded

    def batch(self, conversations: list[list[dict]], system: Optional[str] = None, **gen) -> list[Response]:
        """Greedy or sampled answers, all queued at once so the scheduler batches them (left-padded)."""
        jobs = [self._job(self.encode(messages, system), gen) for messages in conversations]
        self.scheduler.submit(jobs)
        responses = []
        for job in jobs:
            stream = self._stream(job, [])
            for _piece in stream:
                pass
            responses.append(stream.response)
        return responses


def _pieces(reader: _Reader) -> Iterator[str]:
    """Yield text as it is safe to show; return the Response once the job has ended."""
    while not reader.ended:
        if text := reader.text_of(reader.job.out.take()):
            yield text
    return reader.response()


async def _async_pieces(reader: _Reader) -> AsyncIterator:
    """``_pieces`` on an event loop: the text, then the Response."""
    while not reader.ended:
        if text := reader.text_of(await reader.job.out.atake()):
            yield text
    yield reader.response()
