"""The SGLang backend: RadixAttention prefix caching and continuous batching on a CUDA GPU.

Uses SGLang's offline ``sglang.Engine``: built on the main thread (it installs
signal handlers), its tokenizer manager then runs on our loop, driven with ``async_generate(input_ids=...,
sampling_params={...}, lora_path=..., stream=True, rid=...)``. With the
default ``incremental_streaming_output=False`` every streamed chunk's
``text`` is the whole answer so far, and ``meta_info`` carries
``completion_tokens`` and ``finish_reason`` ({"type": "stop" | "length" |
"abort", ...} once finished). The Engine has no public abort, so a request is
stopped through its tokenizer manager's ``abort_request(rid=...)``, as
SGLang's own HTTP server does for a client that went away.
"""

from collections.abc import AsyncIterator

from workflows.chat.async_engine import ADAPTER_NAME, AsyncEngine, Progress
from workflows.chat.templated import Sampling


class SglangEngine(AsyncEngine):
    backend = "sglang"

    def _start(self) -> None:
        import sglang

        lora = {"lora_paths": [f"{ADAPTER_NAME}={self.adapters[0]}"]} if self.adapters else {}
        self._engine = sglang.Engine(
            model_path=self.model_path,
            trust_remote_code=self.model_args.trust_remote_code,
            download_dir=self.model_args.cache_dir,
            context_length=self.context_length,
            **lora,
        )

    async def _generate(self, prompt_ids: list[int], sampling: Sampling, request_id: str) -> AsyncIterator[Progress]:
        params = {
            "max_new_tokens": sampling.max_new_tokens,
            "repetition_penalty": sampling.repetition_penalty,
            "stop_token_ids": self.stop_ids,
            **sampling.sampler_options(),
        }
        chunks = await self._engine.async_generate(
            input_ids=prompt_ids,
            sampling_params=params,
            lora_path=ADAPTER_NAME if self.adapters else None,
            stream=True,
            rid=request_id,
        )
        async for chunk in chunks:
            meta = chunk["meta_info"]
            reason = meta["finish_reason"]
            yield Progress(chunk["text"], meta["completion_tokens"], reason and reason["type"])

    async def _abort(self, request_id: str) -> None:
        self._engine.tokenizer_manager.abort_request(rid=request_id)
