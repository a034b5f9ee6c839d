"""Choose how pt and sft batch their examples: padded rows, or one flattened row without padding.

A flattened batch is correct only where the model keeps its examples apart
given restarting `position_ids` and no attention mask (transformers' models
that build their mask with `masking_utils`, or run FlashAttention's
variable-length kernels). Rather than keep a list of such architectures, the
loaded model is asked: two flattened rows that differ only in their first
example must give the second example the same logits.

Whether flattening also pays depends on the attention kernel. FlashAttention
(and flex attention) skip the other examples, so a flattened batch always does
less work than a padded one. sdpa and eager compute the whole block-diagonal
mask: a flattened batch of N tokens attends over N x N pairs, where the padded
one has batch x width^2. With `padding_free` unset, each batch is flattened
when the tokens it saves outweigh the larger attention (estimated from the
model's size); measured on CPU, flattening all-equal-length rows of 1024 tokens
with sdpa took 2.4x as long as padding them, while mixed-length SFT batches
took 0.6x.
"""

import logging
from dataclasses import dataclass
from typing import Optional

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.features.collator import FlatteningCollator, PaddingCollator

logger = logging.getLogger(__name__)


def choose_collator(config: RunConfig, model, pad_token_id: int, packed: bool):
    """The collator of a pt or sft run; `packed`: the features are already packed rows."""
    padding = PaddingCollator(pad_token_id=pad_token_id)
    asked = config.data.padding_free
    if packed:
        if keeps_examples_apart(model) is False:
            logger.warning(
                "%s with attention %r lets packed sequences attend to each other (LLaMA-Factory's packing without neat_packing); "
                "set `packing: false` to keep examples apart.",
                type(model).__name__,
                _attention(model),
            )
        return padding
    if asked is False:
        return padding
    if asked is None and config.training.neftune_noise_alpha:
        return padding  # NEFTune scales its noise by the row length: a flattened row would get less of it
    apart = keeps_examples_apart(model)
    if asked:
        if apart is False:
            raise ConfigError(
                f"`padding_free: true`, but {type(model).__name__} with attention {_attention(model)!r} lets the examples of a "
                "flattened batch attend to each other. Set `padding_free: false` (or leave it empty)."
            )
        return FlatteningCollator(padding)
    if not apart:
        return padding
    cost = BatchCost.of(model)
    logger.info("Padding-free batches where they cost less than padded ones (attention %s)", cost.attention)
    return FlatteningCollator(padding, flatten_when=cost.flattening_pays)


def keeps_examples_apart(model) -> Optional[bool]:
    """Whether flattened examples stay apart in this model; None where it cannot be run yet (ZeRO-3, meta weights)."""
    import torch
    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled() or any(parameter.device.type == "meta" for parameter in model.parameters()):
        return None
    vocab = model.config.get_text_config().vocab_size
    second = [vocab // 2, vocab // 2 + 1]
    rows = torch.tensor([[vocab // 3, vocab // 3 + 1, *second], [2 * vocab // 3, 2 * vocab // 3 + 1, *second]])
    device = next(model.parameters()).device
    position_ids = torch.tensor([[0, 1, 0, 1]], device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = [model(input_ids=row[None].to(device), position_ids=position_ids, use_cache=False).logits[0, 2:] for row in rows]
    finally:
        model.train(was_training)
    scale = max(logits[0].abs().max().item(), 1.0)
    return (logits[0] - logits[1]).abs().max().item() <= 1e-3 * scale


def _attention(model) -> str:
    return str(model.config._attn_implementation)


@dataclass(frozen=True)
class BatchCost:
    """Forward FLOPs of a batch: 2 per weight per token, plus 4 x layers x heads x head_dim per attended pair."""

    flops_per_token: float
    flops_per_pair: float
    attention: str

    @classmethod
    def of(cls, model) -> "BatchCost":
        config = model.config.get_text_config()
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        return cls(2 * base.num_parameters(exclude_embeddings=True), 4 * config.num_hidden_layers * heads * head_dim, _attention(model))

    @property
    def skips_other_examples(self) -> bool:
        """Variable-length FlashAttention and flex attention's block masks compute each example's own pairs only."""
        return "flash" in self.attention or self.attention == "flex_attention"

    def flattening_pays(self, lengths: list[int], padded_width: int) -> bool:
        tokens = sum(lengths)
        pairs = sum(length * length for length in lengths) if self.skips_other_examples else tokens * tokens
        flattened = tokens * self.flops_per_token + pairs * self.flops_per_pair
        padded = len(lengths) * padded_width * (self.flops_per_token + padded_width * self.flops_per_pair)
        return flattened < padded
