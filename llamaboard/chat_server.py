"""What the Chat tab drives: one API server subprocess per loaded model, reached over HTTP.

Loading starts `python -m workflows api` for the model and adapters chosen in
the top bar; unloading ends that process. Ending the process is what frees
all of the model's memory, CPU and GPU alike (an in-process model leaves
allocator caches and reference cycles behind), and it is why the UI process
never imports torch. Compare mode is simply two of these side by side.
"""

import os
import queue
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import psutil

from workflows.api.process import free_port, start_api, stop_api


class ChatServer:
    def __init__(self) -> None:
        self._process = None
        self._client = None
        self.model: Optional[str] = None

    @property
    def loaded(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def load(self, overrides: list[str], log: Optional[Path] = None) -> str:
        """Serve the model that ``overrides`` (key=value) describe, replacing any loaded one; returns its id.

        The server gets a random API key, so other local users cannot use it,
        and ends by itself if this process dies without unloading it.
        """
        import openai

        self.unload()
        port, key = free_port(), secrets.token_urlsafe(16)
        env = {"API_KEY": key, "API_MODEL_NAME": "", "LLAMABOARD_EXIT_WITH_PARENT": str(os.getpid())}
        self._process = start_api(overrides, port, env=env, log=log)
        try:
            self._client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            self.model = self._client.models.list().data[0].id
        except BaseException:
            self.unload()  # a server that cannot be asked its model must not keep running unseen
            raise
        return self.model

    def unload(self) -> None:
        """End the server process and wait for it, so its memory is back when this returns."""
        if self._process is not None:
            stop_api(self._process)
        self._process, self._client, self.model = None, None, None

    def memory_bytes(self) -> int:
        """Resident memory of the server process (0 when nothing is loaded)."""
        return psutil.Process(self._process.pid).memory_info().rss if self.loaded else 0

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
