"""A batch's first token without ``generate``'s set-up: the part of an answer a user waits for in silence.

``model.generate`` spends about a millisecond on every call before its prefill (copying and validating its
generation config, building its logits processors and cache): a third of the time to the first token of a small
model on a CPU. Here the scheduler runs the prefill itself (one forward pass into a ``DynamicCache``, the logits
processors ``generate`` would apply, then argmax or a sample) and ``generate`` continues from that cache for the
rest of the answer, so its set-up comes after the first token rather than before it. Greedy answers are the
same token for token (tested, padded batches too).

Where this path could differ from ``generate`` it is not taken and the whole answer goes through ``generate``:
a model whose own generation config asks for more than sampling settings (a minimum length, banned words,
``min_p``, a cache of its own...), a model ``generate`` gives no ``DynamicCache``, an encoder-decoder, or a
forward without ``logits_to_keep``.
"""

import copy
import inspect
from dataclasses import dataclass
from typing import Optional

import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

REPRODUCED_SETTINGS = frozenset(
    {"do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "max_length", "max_new_tokens"}
    | {"bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "output_attentions", "output_hidden_states"}
    | {"_from_model_config", "transformers_version"}
)
"""Generation config keys this path applies as ``generate`` does (or that change no logits)."""


@dataclass(frozen=True)
class Plan:
    """How ``generate`` would pick the first token under one batch's settings."""

    processors: LogitsProcessorList
    sample: bool


class FirstToken:
    """Prefill and first token for one model; ``plan`` says whether (and how) a batch's settings can take this path."""

    def __init__(self, model):
        self.model = model
        self.usable = (
            not model.config.is_encoder_decoder
            and model._supports_default_dynamic_cache()
            and "logits_to_keep" in inspect.signature(model.forward).parameters
        )
        self._plans: dict[tuple, Optional[Plan]] = {}

    def plan(self, key: tuple, settings: dict) -> Optional[Plan]:
        """What ``generate`` would do to the first token under ``settings`` (whose ``key`` it is); None: use ``generate``."""
        if key not in self._plans:
            self._plans[key] = self._build(settings) if self.usable else None
        return self._plans[key]

    def _build(self, settings: dict) -> Optional[Plan]:
        config = copy.deepcopy(self.model.generation_config)
        config.update(**settings)
        if set(config.to_diff_dict()) - REPRODUCED_SETTINGS:
            return None
        processors = LogitsProcessorList()  # in generate's order
        if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty))
        if config.do_sample:
            if config.temperature is not None and config.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k is not None and config.top_k != 0:
                processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
            if config.top_p is not None and config.top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
        return Plan(processors, sample=bool(config.do_sample))

    def prefill(self, padded: dict, plan: Plan) -> tuple[torch.Tensor, DynamicCache]:
        """The first token of every row of a left-padded batch, shape (rows, 1), and the cache ``generate`` continues from."""
        mask = padded["attention_mask"]
        cache = DynamicCache(config=self.model.config.get_text_config(decoder=True))
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        output = self.model(**padded, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
        scores = plan.processors(padded["input_ids"], output.logits[:, -1, :].to(torch.float32))
        if plan.sample:
            return torch.multinomial(scores.softmax(dim=-1), num_samples=1), cache
        return scores.argmax(dim=-1, keepdim=True), cache
