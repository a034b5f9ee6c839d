"""Time to first token and tokens/s through the OpenAI-compatible API on the built-in tiny model.

    python bench/chat_latency.py [--max-tokens 64] [--concurrency 8] [key=value ...]

Starts `python -m workflows api` (greedy decoding, so every answer runs to
--max-tokens) and streams with the official `openai` client: first one
stream alone, then --concurrency streams at once. The server generates
concurrent answers together (the Hugging Face backend batches them, and a
stream arriving mid-batch joins at the next step), so with N streams the time
to first token should stay near the single stream's and the total tokens/s
grow with N, while each stream's own tokens/s drops somewhat.
Extra key=value arguments go to the server (e.g. adapter_name_or_path=...).
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflows.api.process import free_port, start_api, stop_api  # noqa: E402

PROMPT = [{"role": "user", "content": "Tell me about yourself."}]


async def one_stream(client: openai.AsyncOpenAI, model: str, max_tokens: int) -> tuple[float, float, int]:
    """(seconds to the first content piece, seconds in all, completion tokens)."""
    started = time.perf_counter()
    first, tokens = None, 0
    stream = await client.chat.completions.create(
        model=model, messages=PROMPT, max_tokens=max_tokens, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return first, time.perf_counter() - started, tokens


async def measure(base_url: str, model: str, streams: int, max_tokens: int) -> dict:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600) as client:
        await one_stream(client, model, 4)  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, model, max_tokens) for _ in range(streams)))
        wall = time.perf_counter() - started
    first_tokens = [first for first, _, _ in results]
    return {
        "streams": streams,
        "ttft_median_s": statistics.median(first_tokens),
        "ttft_max_s": max(first_tokens),
        "per_stream_tokens_per_s": statistics.median(tokens / total for _, total, tokens in results),
        "total_tokens_per_s": sum(tokens for _, _, tokens in results) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("overrides", nargs="*", help="key=value settings for the server")
    options = parser.parse_args()
    port = free_port()
    process = start_api(["do_sample=false", *options.overrides], port)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        model = openai.OpenAI(base_url=base_url, api_key="unused").models.list().data[0].id
        for streams in (1, options.concurrency):
            result = asyncio.run(measure(base_url, model, streams, options.max_tokens))
            print(
                f"{result['streams']:2d} stream(s), {options.max_tokens} tokens each: "
                f"time to first token median {result['ttft_median_s'] * 1000:.0f} ms, max {result['ttft_max_s'] * 1000:.0f} ms; "
                f"{result['per_stream_tokens_per_s']:.1f} tokens/s per stream, {result['total_tokens_per_s']:.1f} tokens/s in all"
            )
    finally:
        stop_api(process)


if __name__ == "__main__":
    main()
