"""The OpenAI-compatible server as a real subprocess, driven by the official `openai` client:
streaming and not, concurrency, malformed requests in OpenAI's error shape, and the API key."""

import asyncio
import concurrent.futures
import time

import httpx
import openai
import psutil
import pytest

from workflows.api.process import free_port, start_api, stop_api

API_KEY = "test-key"
MODEL = "llamaboard-tiny"
HELLO = [{"role": "user", "content": "Who are you?"}]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    port = free_port()
    process = start_api(["do_sample=false"], port, env={"API_KEY": API_KEY})
    yield process, f"http://127.0.0.1:{port}/v1"
    stop_api(process)


@pytest.fixture(scope="module")
def base_url(server):
    return server[1]


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)


def test_models_and_a_completion_with_usage(client):
    assert [model.id for model in client.models.list().data] == [MODEL]
    completion = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=6, temperature=0)
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 6
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_equals_the_plain_answer(client):
    plain = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_n_choices_and_stop(client):
    plain = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0).choices[0].message.content
    several = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0, n=2)
    assert [choice.message.content for choice in several.choices] == [plain, plain]
    stop = plain[2:5]
    stopped = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0, stop=[stop]).choices[0]
    assert stopped.message.content == plain[: plain.find(stop)] and stopped.finish_reason == "stop"


def test_32_concurrent_streams_all_complete_without_a_thread_each(server):
    """A thread per open stream would put a thousand threads in a server with a thousand clients."""
    process, base_url = server
    threads = psutil.Process(process.pid).num_threads()
    most_threads = threads

    async def one(async_client, index):
        nonlocal most_threads
        stream = await async_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"Question {index}"}], max_tokens=64, stream=True
        )
        reasons = []
        async for chunk in stream:
            most_threads = max(most_threads, psutil.Process(process.pid).num_threads())
            reasons += [choice.finish_reason for choice in chunk.choices]
        return reasons[-1]

    async def run_all():
        async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=120) as async_client:
            return await asyncio.gather(*(one(async_client, index) for index in range(32)))

    with concurrent.futures.ThreadPoolExecutor(
        1
    ) as thread:  # a thread of its own: the browser tests keep an event loop running in this one
        reasons = thread.submit(asyncio.run, run_all()).result()
    assert all(reason in ("stop", "length") for reason in reasons)
    assert most_threads < threads + 8, (threads, most_threads)


MALFORMED = [
    "{not json",
    "[]",
    '"just a string"',
    "{}",
    '{"model": "llamaboard-tiny"}',
    '{"model": "llamaboard-tiny", "messages": []}',
    '{"model": "llamaboard-tiny", "messages": "hello"}',
    '{"model": "llamaboard-tiny", "messages": [{"role": "wizard", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "messages": [{"role": "user"}]}',
    '{"model": "llamaboard-tiny", "messages": [{"content": "hi"}]}',
    '{"model": "llamaboard-tiny", "messages": [{"role": "assistant", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}',
    '{"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}',
    '{"messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "max_tokens": -5, "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "temperature": -1, "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "top_p": 3, "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "n": 0, "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "stream": "sometimes", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "llamaboard-tiny", "messages": [{"role": "user", "content": "' + "word " * 5000 + '"}]}',
]


def test_malformed_requests_get_openai_shaped_4xx_and_the_server_keeps_answering(base_url, client):
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    for body in MALFORMED:
        response = httpx.post(f"{base_url}/chat/completions", content=body, headers=headers, timeout=60)
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], body[:80]
    too_long = httpx.post(f"{base_url}/chat/completions", content=MALFORMED[-1], headers=headers, timeout=60).json()
    assert "context" in too_long["error"]["message"]
    assert client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2).choices[0].message.content is not None


def test_api_key_is_required(base_url):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    response = httpx.post(f"{base_url}/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_a_client_leaving_mid_stream_frees_the_server(base_url, client):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 200, "stream": True}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers, timeout=60) as response:
        assert next(response.iter_lines()).startswith("data:")
    started = time.monotonic()
    assert client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2).choices
    assert time.monotonic() - started < 30


def test_memory_comes_back_after_a_barrage_of_large_requests(server, client):
    process, base_url = server
    headers = {"Authorization": f"Bearer {API_KEY}"}
    client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4)
    baseline = psutil.Process(process.pid).memory_info().rss
    large = {"model": MODEL, "messages": [{"role": "user", "content": "wörd " * 150_000}]}  # 900 kB: tokenised, then too long

    def send(_):
        return httpx.post(f"{base_url}/chat/completions", json=large, headers=headers, timeout=120).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert set(pool.map(send, range(8))) == {400}
    too_large = {**large, "messages": [{"role": "user", "content": "word " * 300_000}]}
    assert httpx.post(f"{base_url}/chat/completions", json=too_large, headers=headers, timeout=60).status_code == 413
    deadline = time.monotonic() + 20
    while psutil.Process(process.pid).memory_info().rss > baseline + 150 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert psutil.Process(process.pid).memory_info().rss <= baseline + 150 * 2**20
