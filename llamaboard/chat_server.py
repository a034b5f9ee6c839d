"""What the Chat tab drives: one API server subprocess per loaded model, reached over HTTP.

Loading starts `python -m workflows api` for the model and adapters chosen in
the top bar; unloading ends that process. Ending the process is what frees
all of the model's memory, CPU and GPU alike (an in-process model leaves
allocator caches and reference cycles behind), and it is why the UI process
never imports torch. Compare mode is simply two of these side by side.

Every server the UI starts is listed in one per-process ``ServerRegistry``
under the page (Gradio session) that loaded it. A server ends when its page
unloads it, when the page closes or reloads (``demo.unload``), when a person
ends it from the list, or, should none of those happen (a browser that
vanished without closing its connection), once its page has not been seen
for ``LEASE_S`` seconds: open pages renew their lease every few seconds.
"""

import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import psutil

from llamaboard.launcher import fork_server
from workflows.api.process import free_port, start_api, stop_api

LEASE_S = 180.0
"""How long a server outlives the last sign of its page. Chrome wakes a hidden tab's timers only once a
minute, so a shorter lease would end the servers of a page that is merely in the background."""
RENEW_EVERY_S = 5.0
"""How often an open page renews its lease (and refreshes the list of servers)."""
STREAM_UPDATE_S = 0.25
"""The shortest time between two updates of a streaming answer on the page: 4 a second. Each update cost
the page 100-200 ms of work on a busy 2-core machine (measured with Chrome's profiler: mostly Gradio's
state handling across the app's many components, whatever the answer's length), so 10 a second left
no time at all for a click on Stop; 4 a second leaves more than half of it and still reads as live."""
STREAM_UPDATE_S_PER_CHAR = 1e-4
"""Long answers update less often still (0.5 s apart at 5,000 characters, 1 s at 10,000): the page
renders the whole answer's markdown each time."""


class ChatServer:
    def __init__(self, workdir: Optional[Path] = None) -> None:
        self.workdir = Path(workdir or os.getcwd())
        self._process = None
        self._client = None
        self.model: Optional[str] = None

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    @property
    def loaded(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def load(self, overrides: list[str], log: Optional[Path] = None) -> str:
        """Serve the model that ``overrides`` (key=value) describe, replacing any loaded one; returns its id.

        The server gets a random API key, so other local users cannot use it,
        and ends by itself if this process dies without unloading it. It runs
        in ``workdir``, against which relative paths in ``overrides`` resolve.
        """
        import openai

        self.unload()
        port, key = free_port(), secrets.token_urlsafe(16)
        env = {"API_KEY": key, "API_MODEL_NAME": "", "LLAMABOARD_EXIT_WITH_PARENT": str(os.getpid())}
        # in the workdir, relative paths in overrides mean what they mean there
        self._process = start_api(overrides, port, env, log=log, cwd=self.workdir, fork_server=fork_server())
        try:
            self._client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            self.model = self._client.models.list().data[0].id
        except BaseException:
            self.unload()  # a server that cannot be asked its model must not keep running unseen
            raise
        return self.model

    def unload(self) -> None:
        """End the server process and wait for it, so its memory is back when this returns."""
        process, self._process, self._client, self.model = self._process, None, None, None
        if process is not None:
            stop_api(process)

    def memory_bytes(self) -> int:
        """Resident memory of the server process (0 when nothing is loaded)."""
        try:
            return psutil.Process(self._process.pid).memory_info().rss if self.loaded else 0
        except (psutil.Error, AttributeError):  # ended meanwhile
            return 0

    def stream(self, messages: list[dict], system: Optional[str] = None, **sampling) -> Iterator[str]:
        """Answer text pieces as the server streams them; ``sampling`` takes the API's temperature, top_p, max_tokens."""
        if not self.loaded:
            raise RuntimeError("no model is loaded")
        head = [{"role": "system", "content": system}] if system else []
        # Closing the stream (also when the caller stops reading) ends the request, and the server stops generating.
        with self._client.chat.completions.create(model=self.model, messages=[*head, *messages], stream=True, **sampling) as stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content


def read_together(streams: list[Iterator[str]]) -> Iterator[tuple[int, str]]:
    """(stream index, piece) from several streams read at the same time, in the order pieces arrive.

    Each stream is read on a thread of its own; the first error of any stream
    is raised here. Closing this generator (the page stopped the answer) makes
    every reader stop and close its stream, which ends its server request.
    """
    arrivals: queue.SimpleQueue = queue.SimpleQueue()
    stopped = threading.Event()

    def read(index: int, stream: Iterator[str]) -> None:
        try:
            for piece in stream:
                if stopped.is_set():
                    break
                arrivals.put((index, piece, None))
        except Exception as error:  # handed to the caller's thread, which raises it
            arrivals.put((index, None, error))
            return
        finally:
            stream.close()
        arrivals.put((index, None, None))

    for index, stream in enumerate(streams):
        threading.Thread(target=read, args=(index, stream), name=f"read-stream-{index}", daemon=True).start()
    try:
        running = len(streams)
        while running:
            index, piece, error = arrivals.get()
            if error is not None:
                raise error
            if piece is None:
                running -= 1
            else:
                yield index, piece
    finally:
        stopped.set()


def read_in_batches(
    streams: list[Iterator[str]], every_s: float = STREAM_UPDATE_S, per_char_s: float = STREAM_UPDATE_S_PER_CHAR
) -> Iterator[dict[int, str]]:
    """What the streams added (stream index -> text), gathered for at least ``every_s`` between two yields.

    A page redrawn for every token (a chat history re-rendered dozens of times
    a second) has no time left to handle a click on Stop; a few updates a
    second look just as live. The wait grows by ``per_char_s`` per character
    read so far, as each redraw of a longer answer costs more. The first
    piece is yielded at once, the rest as they pile up; nothing is held back
    when the streams end.
    """
    batch: dict[int, str] = {}
    next_yield, read = 0.0, 0
    pieces = read_together(streams)
    try:
        for index, piece in pieces:
            batch[index] = batch.get(index, "") + piece
            read += len(piece)
            if time.monotonic() >= next_yield:
                yield batch
                batch, next_yield = {}, time.monotonic() + max(every_s, read * per_char_s)
        if batch:
            yield batch
    finally:
        pieces.close()


@dataclass
class ServerEntry:
    """A server the UI started, the page (Gradio session) that loaded it and its place there."""

    server: ChatServer
    owner: str
    role: str  # "chat" (the chosen model) or "compare" (the one beside it)
    started: float = field(default_factory=time.time)


class ServerRegistry:
    """Every model server this UI process started, by page, so none outlives its page and a person can end any of them."""

    def __init__(self, lease_s: float = LEASE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_s, self._clock = lease_s, clock
        self._lock = threading.Lock()
        self._entries: list[ServerEntry] = []
        self._seen: dict[str, float] = {}  # owner -> when its page last showed it is open
        self._closed: dict[str, None] = {}  # pages known to be gone, newest last (a load may finish after its page closed)
        self._reaper: Optional[threading.Thread] = None

    def add(self, server: ChatServer, owner: str, role: str) -> Optional[ServerEntry]:
        """List ``server`` as ``owner``'s; a server whose page closed while it was starting is ended instead (None)."""
        entry = ServerEntry(server, owner, role)
        with self._lock:
            closed = owner in self._closed
            if not closed:
                self._entries.append(entry)
                self._seen[owner] = self._clock()
        if closed:
            server.unload()
            return None
        return entry

    def renew(self, owner: str) -> None:
        """The page ``owner`` is open: its servers' lease starts again."""
        with self._lock:
            self._seen[owner] = self._clock()

    def entries(self) -> list[ServerEntry]:
        """Running servers, oldest first (ones that ended by themselves are dropped)."""
        with self._lock:
            self._entries = [entry for entry in self._entries if entry.server.loaded]
            return list(self._entries)

    def _end(self, chosen: Callable[[ServerEntry], bool]) -> list[ServerEntry]:
        with self._lock:
            ended = [entry for entry in self._entries if chosen(entry)]
            self._entries = [entry for entry in self._entries if not chosen(entry)]
        for entry in ended:  # outside the lock: ending waits for the process
            entry.server.unload()
        return ended

    def end(self, pid: int) -> list[ServerEntry]:
        return self._end(lambda entry: entry.server.pid == pid)

    def end_servers(self, servers) -> list[ServerEntry]:
        """End these servers (a page's old ones, replaced or unloaded), listed or not."""
        servers = [server for server in servers or () if server is not None]
        ended = self._end(lambda entry: any(entry.server is server for server in servers))
        for server in servers:
            server.unload()
        return ended

    def end_owner(self, owner: str) -> list[ServerEntry]:
        """The page ``owner`` is gone: end its servers."""
        with self._lock:
            self._seen.pop(owner, None)
            self._closed[owner] = None
            while len(self._closed) > 1000:
                del self._closed[next(iter(self._closed))]
        return self._end(lambda entry: entry.owner == owner)

    def end_expired(self) -> list[ServerEntry]:
        """End the servers of pages not seen for ``lease_s`` seconds."""
        now = self._clock()
        with self._lock:
            expired = {owner for owner, seen in self._seen.items() if now - seen > self.lease_s}
            for owner in expired:
                del self._seen[owner]
        return self._end(lambda entry: entry.owner in expired)

    def start_reaper(self, every_s: float = RENEW_EVERY_S) -> None:
        """A daemon thread ending expired servers every ``every_s`` seconds (started once)."""
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap, args=(every_s,), name="end-expired-model-servers", daemon=True)
        self._reaper.start()

    def _reap(self, every_s: float) -> None:
        while True:
            time.sleep(every_s)
            try:
                self.end_expired()
            except Exception:  # a failure to end one server must not stop the reaper for good
                pass


SERVERS = ServerRegistry()
"""The servers of this UI process (the Chat tab's model servers list shows them)."""
