"""What the API server refuses, and how it shares itself between requests (issue 14, items 4-7).

Served in-process (uvicorn on a thread, 127.0.0.1 only) so a test can look at
the engine: the real Hugging Face engine on the built-in tiny model for
batching and disconnects, a scripted engine for validation, errors and the
event loop. Every request has a timeout; every wait is bounded.
"""

import asyncio
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Optional

import httpx
import openai
import pytest
import uvicorn

from tests.test_api_tools import ASK, WEATHER_TOOL, ScriptedEngine
from workflows.api.app import create_app
from workflows.api.process import free_port
from workflows.api.protocol import MAX_N
from workflows.chat import load_engine
from workflows.chat.hf_engine import Scheduler, _Job
from workflows.config import load_config

MODEL = "llamaboard-tiny"


def serve(app):
    """(base URL, stop) for ``app`` on a free 127.0.0.1 port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)

    def stop():
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://127.0.0.1:{port}/v1", stop


def wait_until(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    engine = load_engine(load_config(None, ["do_sample=false"]))
    base_url, stop = serve(create_app(engine, MODEL))
    yield engine, base_url
    stop()


@pytest.fixture(scope="module")
def scripted():
    engine = ScriptedEngine()
    base_url, stop = serve(create_app(engine, "scripted", max_body_bytes=64 * 1024))
    yield engine, base_url
    stop()


def run_async(coroutine):
    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a loop of its own: browser tests may run one in this thread
        return thread.submit(asyncio.run, coroutine).result(timeout=300)


# item 4: concurrent requests are generated together; abandoned ones stop


def test_eight_concurrent_requests_are_generated_in_one_batch_with_the_single_answers(hf):
    engine, base_url = hf
    prompts = [f"Question number {index}?" for index in range(8)]

    async def ask_all():
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120) as client:

            async def one(prompt):
                stream = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=12, stream=True
                )
                return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

            return await asyncio.gather(*map(one, prompts))

    with engine.scheduler.hold():  # all eight queue up before the next batch starts
        answers = concurrent.futures.ThreadPoolExecutor(1).submit(run_async, ask_all())
        assert wait_until(lambda: engine.scheduler.waiting() == 8)
        engine.scheduler.batch_rows.clear()
    answers = answers.result(timeout=300)
    assert engine.scheduler.batch_rows[0] == 8
    singles = [engine.chat([{"role": "user", "content": prompt}], max_new_tokens=12)[0].text for prompt in prompts]
    assert answers == singles and len(set(answers)) > 1


def test_n_choices_are_rows_of_one_batch(hf):
    engine, base_url = hf
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    engine.scheduler.batch_rows.clear()
    completion = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=6, n=3)
    assert len({choice.message.content for choice in completion.choices}) == 1 and completion.usage.completion_tokens == 18
    assert list(engine.scheduler.batch_rows) == [3]


def test_a_non_streaming_client_that_leaves_stops_its_generation(hf):
    engine, base_url = hf
    body = {"model": MODEL, "messages": ASK, "max_tokens": 3000}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{base_url}/chat/completions", json=body, timeout=1.5)
    assert wait_until(lambda: not engine.scheduler.busy(), timeout=20)
    generated = engine.scheduler.running[0].ids
    assert 0 < len(generated) < 3000


def test_max_tokens_beyond_the_context_and_too_many_choices_are_400(hf):
    engine, base_url = hf
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
    with pytest.raises(openai.BadRequestError, match="maximum context length is 4096 tokens") as error:
        client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=100000)
    assert error.value.body["code"] == "context_length_exceeded" and error.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.chat.completions.create(model=MODEL, messages=ASK, max_completion_tokens=engine.context_length)
    with pytest.raises(openai.BadRequestError, match="n"):
        client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=2, n=MAX_N + 1)
    assert client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=2, n=MAX_N).choices[MAX_N - 1].message.content is not None


def test_a_queued_job_whose_stream_is_closed_never_runs():
    ran, release = [], threading.Event()

    def run_batch(rows, scheduler):
        ran.extend(rows)
        release.wait(timeout=30)
        for job in rows:
            job.finish()
        return False

    class Owner:  # the scheduler holds its batch function weakly, as an engine's method
        def run(self, rows, scheduler):
            return run_batch(rows, scheduler)

    owner = Owner()
    scheduler = Scheduler(owner.run)
    settings = {"eos_token_id": [0]}
    first, queued = _Job([1], settings, 4), _Job([2], {**settings, "temperature": 0.5}, 4)
    scheduler.submit([first])
    assert wait_until(lambda: ran == [first])
    scheduler.submit([queued])  # other settings: it waits for the running batch
    scheduler.cancel(queued)
    assert queued.done and queued.out.take()  # its reader is told at once, not when the batch ends
    release.set()
    assert wait_until(lambda: not scheduler.busy()) and ran == [first]


def one_token_each(rows, order: Optional[list] = None) -> None:
    """One generate step as the scheduler sees it: each unfinished row gets a token and ends at its max_new_tokens."""
    for job in rows:
        if job.cancelled.is_set():
            job.finish()
        if not job.done:
            job.ids.append(1)
            if order is not None:
                order.append(job.settings["name"])
            if len(job.ids) >= job.max_new_tokens:
                job.finish()


def test_requests_arriving_just_after_a_lone_one_join_its_batch_at_the_next_yield():
    """An idle scheduler starts a lone request at once; the rest of a burst, a step behind, is generated with it from then on."""
    settings = {"eos_token_id": [0]}
    first, rest = _Job([1], settings, 10), [_Job([index], settings, 3) for index in range(2, 9)]

    class Owner:
        def run(self, rows, scheduler):  # one "token" per step until done or told to yield
            steps = 0
            while not all(job.done for job in rows):
                if rows == [first] and steps == 0:
                    scheduler.submit(rest)  # they arrive while the first one's first step runs
                steps += 1
                one_token_each(rows)
                if scheduler.should_yield(rows, steps):
                    return True
            return False

    owner = Owner()
    scheduler = Scheduler(owner.run)
    scheduler.submit([first])
    assert wait_until(lambda: first.done and all(job.done for job in rest))
    assert list(scheduler.batch_rows) == [1, 8]
    assert len(first.ids) == 10 and all(len(job.ids) == 3 for job in rest)


def test_closing_the_scheduler_stops_the_running_batch_and_waits_for_its_thread():
    """A process must not exit while the scheduler thread is inside generate (torch aborts the interpreter)."""
    started = threading.Event()

    class Owner:
        def run(self, rows, scheduler):  # like generate: one step at a time until every row is finished
            started.set()
            while not all(job.cancelled.is_set() for job in rows):
                time.sleep(0.01)
            return False

    owner = Owner()
    scheduler = Scheduler(owner.run)
    running, waiting = _Job([1], {"eos_token_id": [0]}, 4), _Job([2], {"eos_token_id": [0], "temperature": 0.5}, 4)
    scheduler.submit([running])
    assert started.wait(timeout=10)
    scheduler.submit([waiting])
    scheduler.close(timeout_s=10)
    assert not scheduler._thread.is_alive()
    assert running.done and waiting.done
    late = _Job([3], {"eos_token_id": [0]}, 4)
    scheduler.submit([late])
    assert late.done and isinstance(late.out.take()[-1], RuntimeError)  # told at once, never left waiting


# item 5: body size, the event loop


def test_a_body_over_the_limit_is_413(scripted):
    _, base_url = scripted
    big = {"model": "scripted", "messages": [{"role": "user", "content": "x" * 70_000}]}
    response = httpx.post(f"{base_url}/chat/completions", json=big, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted as it arrives
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    response = httpx.post(f"{base_url}/chat/completions", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200


def test_tokenisation_of_a_large_request_runs_off_the_event_loop(scripted, monkeypatch):
    engine, base_url = scripted
    entered, release = threading.Event(), threading.Event()
    encode = engine.encode

    def slow_encode(*args, **kwargs):
        entered.set()
        release.wait(timeout=30)
        return encode(*args, **kwargs)

    monkeypatch.setattr(engine, "encode", slow_encode)
    body = {"model": "scripted", "messages": [{"role": "user", "content": "word " * 2000}]}  # over INLINE_BODY_BYTES
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, f"{base_url}/chat/completions", json=body, timeout=30)
        assert entered.wait(timeout=10)
        assert httpx.get(f"{base_url}/models", timeout=5).status_code == 200  # answered while the tokenizer is busy
        release.set()
        assert pending.result().status_code == 200


# item 6: bad requests are 400s before anything is generated; a 500 keeps the connection


BAD_TOOLS = [
    [{"type": "function", "function": "get_weather"}],
    [{"type": "function", "function": None}],
    [{"type": "function", "function": {"description": "no name"}}],
    ["get_weather"],
]


def nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def bad_requests() -> list[dict]:
    ask = {"model": "scripted", "messages": ASK}
    deep_tool = {"type": "function", "function": {"name": "deep", "parameters": nested(250)}}  # 500 levels
    return [
        *({**ask, "tools": tools} for tools in BAD_TOOLS),
        {**ask, "tools": [deep_tool]},
        {**ask, "messages": [{"role": "user", "content": "hi \ud800"}]},
        {**ask, "messages": [{"role": "user", "content": [{"type": "text", "text": "\udfff"}]}]},
        {**ask, "tools": [{"type": "function", "function": {"name": "f", "description": "\ud800"}}]},
        {**ask, "stop": ["\ud800"]},
        {**ask, "stop": ["a", "b", "c", "d", "e"]},
        {**ask, "stop": "x" * 1000},
    ]


@pytest.mark.parametrize("index", range(len(bad_requests())))
def test_bad_requests_are_400_invalid_request_error_before_generating(scripted, index):
    engine, base_url = scripted
    body = json.dumps(bad_requests()[index])  # ensure_ascii: a lone surrogate travels as \ud800, valid JSON
    prompts = len(engine.prompts)
    response = httpx.post(f"{base_url}/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(engine.prompts) == prompts  # refused before the prompt was even built


def test_four_short_stop_strings_are_accepted(scripted):
    engine, base_url = scripted
    engine.answer = "one two three"
    client = openai.OpenAI(base_url=f"{base_url}", api_key="unused", max_retries=0, timeout=30)
    choice = client.chat.completions.create(model="scripted", messages=ASK, stop=["a", "b", "c", "x" * 256]).choices[0]
    assert choice.message.content == "one two three"  # the scripted engine applies no stop strings; the request was accepted


def _http(sock: socket.socket, body: bytes) -> tuple[int, bytes]:
    """Send one request on ``sock`` (keep-alive) and read its whole response."""
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    sock.sendall(request + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), rest


def test_a_500_keeps_the_keep_alive_connection(scripted, monkeypatch):
    engine, base_url = scripted
    engine.answer = "Fine."
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    broken = {"model": "scripted", "messages": [{"role": "user", "content": "break"}]}

    def stream_ids(prompt_ids, **gen):
        raise RuntimeError("a bug")

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        monkeypatch.setattr(engine, "stream_ids", stream_ids)
        status, body = _http(sock, json.dumps(broken).encode())
        assert status == 500 and json.loads(body)["error"]["type"] == "server_error"
        monkeypatch.undo()
        status, body = _http(sock, json.dumps({"model": "scripted", "messages": ASK}).encode())  # the same connection
        assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "Fine."


def test_a_valid_tool_request_still_works(scripted):
    engine, base_url = scripted
    engine.answer = "Sunny."
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)
    deep_enough = {"type": "function", "function": {"name": "deep", "parameters": nested(12)}}
    answer = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER_TOOL, deep_enough]).choices[0]
    assert answer.message.content == "Sunny."


def test_a_request_with_other_settings_gets_a_turn_within_the_slice():
    order: list[str] = []

    class Owner:
        def run(self, rows, scheduler):  # one "token" every 10 ms until done or told to yield
            steps = 0
            while not all(job.done for job in rows):
                time.sleep(0.01)
                steps += 1
                one_token_each(rows, order)
                if scheduler.should_yield(rows, steps):
                    return True
            return False

    owner = Owner()
    scheduler = Scheduler(owner.run, slice_s=0.2)
    long = _Job([1], {"eos_token_id": [0], "name": "long"}, 10_000)
    scheduler.submit([long])
    assert wait_until(lambda: order)
    other = _Job([2], {"eos_token_id": [0], "name": "other"}, 3)
    scheduler.submit([other])
    assert wait_until(lambda: other.done, timeout=10)  # not after the long one's 10,000 steps
    assert wait_until(lambda: order[-1] == "long")  # and then the long one goes on
    scheduler.cancel(long)
    assert wait_until(lambda: not scheduler.busy())
    assert order.count("other") == 3 and long.done


def test_on_a_cpu_the_server_leaves_torch_a_core_short_unless_omp_num_threads_says():
    """The event loop needs a core of its own: with every core in torch's pool each token waited for one."""
    script = "import torch; from workflows.api.server import _leave_a_core_to_the_server as f; f(); print(torch.get_num_threads())"
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    count = "import torch; print(torch.get_num_threads())"
    cores = int(subprocess.run([sys.executable, "-c", count], capture_output=True, text=True, env=env).stdout)
    left = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert int(left.stdout) == max(1, cores - 1), left.stderr
    told = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": "2"})
    assert int(told.stdout) == 2, told.stderr


def test_tokens_for_a_reader_that_left_or_whose_loop_closed_do_not_break_generation():
    """The scheduler thread puts tokens for every row of its batch: a row whose reader is gone must not raise there."""
    from workflows.chat.hf_engine import _Outbox

    left, closed = _Outbox(), _Outbox()
    loop = asyncio.new_event_loop()
    reading = loop.create_task(left.atake())
    waiting = loop.create_task(closed.atake())
    loop.run_until_complete(asyncio.sleep(0))  # both readers wait
    reading.cancel()
    loop.run_until_complete(asyncio.gather(reading, return_exceptions=True))
    waiting.cancel()  # never run: the loop closes with the reader still registered
    loop.close()
    left.put(5)
    closed.put(6)
    assert left.take() == [5] and closed.take() == [6]
