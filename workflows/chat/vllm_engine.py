"""The vLLM backend: continuous batching and paged attention on a CUDA GPU.

Written against vLLM's V1 engine (0.10 and later), where ``AsyncLLMEngine``
is ``vllm.v1.engine.async_llm.AsyncLLM``: built with ``from_engine_args``;
``generate(TokensPrompt, SamplingParams, request_id, lora_request=...)``
yields RequestOutputs that are cumulative by default (the whole answer so far),
and ``abort(request_id)`` stops a request. The prompt is given as ids from our
own template, so vLLM's tokenizer only decodes the answer.
"""

import json
from collections.abc import AsyncIterator
from pathlib import Path

from workflows.chat.async_engine import ADAPTER_NAME, AsyncEngine, Progress
from workflows.chat.templated import Sampling
from workflows.errors import ConfigError

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for ``max_lora_rank`` (``vllm.config.lora.MaxLoRARanks``)."""


def max_lora_rank(adapter: str) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that fits the adapter's rank ``r``."""
    rank = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8")).get("r", 8)
    fitting = [allowed for allowed in LORA_RANKS if allowed >= rank]
    if not fitting:
        raise ConfigError(
            f"Adapter `{adapter}` has LoRA rank {rank}; vLLM serves ranks up to {LORA_RANKS[-1]}. Use infer_backend=huggingface."
        )
    return fitting[0]


class VllmEngine(AsyncEngine):
    backend = "vllm"

    def _start(self) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine
        from vllm.lora.request import LoRARequest

        lora = {}
        self._lora_request = None
        if self.adapters:
            lora = {"enable_lora": True, "max_loras": 1, "max_lora_rank": max_lora_rank(self.adapters[0])}
            self._lora_request = LoRARequest(lora_name=ADAPTER_NAME, lora_int_id=1, lora_path=self.adapters[0])
        args = AsyncEngineArgs(
            model=self.model_path,
            trust_remote_code=self.model_args.trust_remote_code,
            download_dir=self.model_args.cache_dir,
            max_model_len=self.context_length,
            **lora,
        )
        self._engine = AsyncLLMEngine.from_engine_args(args)

    async def _generate(self, prompt_ids: list[int], sampling: Sampling, request_id: str) -> AsyncIterator[Progress]:
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(
            max_tokens=sampling.max_new_tokens,
            repetition_penalty=sampling.repetition_penalty,
            stop_token_ids=self.stop_ids,
            **sampling.sampler_options(),
        )
        outputs = self._engine.generate(TokensPrompt(prompt_token_ids=prompt_ids), params, request_id, lora_request=self._lora_request)
        async for output in outputs:
            answer = output.outputs[0]
            yield Progress(answer.text, len(answer.token_ids), answer.finish_reason)

    async def _abort(self, request_id: str) -> None:
        await self._engine.abort(request_id)
