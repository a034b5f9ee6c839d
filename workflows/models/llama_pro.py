"""LLaMA Pro block expansion: copies of decoder blocks inserted so the model computes the same function, then trained alone.

``expand`` inserts a copy of every (num_layers / num_expand)-th block right after it,
with the projections that write into the residual stream (``o_proj``, ``down_proj``)
set to zero: each new block adds nothing, so the expanded model's outputs equal the
original's. Training with ``use_llama_pro`` then updates only those new blocks
(``freeze_trainable_layers`` of them), which keeps what the original blocks knew.
"""

import copy
import logging
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

RESIDUAL_WRITERS = ("o_proj", "down_proj")
"""Linear layers whose output is added to the residual stream; zero, they make a block the identity."""


def expanded_block_ids(num_layers: int, num_expand: int) -> list[int]:
    """Indices of the added blocks in a model of ``num_layers`` blocks that ``expand`` grew by ``num_expand``."""
    if num_expand < 1 or num_layers % num_expand:
        raise ConfigError(
            f"LLaMA Pro: this model has {num_layers} blocks, which `freeze_trainable_layers: {num_expand}` (the number of "
            f"added blocks) does not divide: set it to the num_expand the model was expanded with."
        )
    stride = num_layers // num_expand
    return list(range(stride - 1, num_layers, stride))


def expand(config: RunConfig, num_expand: int, output_dir: Path) -> Path:
    """Write the model of ``config`` with ``num_expand`` zero-initialised blocks added, and its tokenizer, to ``output_dir``."""
    from workflows.models.loader import load_model, load_tokenizer

    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigError(f"`output_dir: {output_dir}` already exists and is not empty: choose a new folder for the expanded model.")
    tokenizer = load_tokenizer(config.model)
    model = load_model(config.model, tokenizer)
    blocks_owner, blocks = _decoder_blocks(model)
    num_layers = len(blocks)
    if num_expand < 1 or num_layers % num_expand:
        raise ConfigError(f"`num_expand: {num_expand}` must divide the model's {num_layers} blocks (e.g. {num_layers // 2 or 1}).")
    expanded, layer_types = [], getattr(model.config, "layer_types", None)
    split = num_layers // num_expand
    for index, block in enumerate(blocks):
        expanded.append(block)
        if (index + 1) % split == 0:
            expanded.append(_identity_copy(block))
    for index, block in enumerate(expanded):
        for module in block.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index  # the KV cache is indexed by it
    blocks_owner.layers = type(blocks)(expanded)
    model.config.num_hidden_layers = len(expanded)
    if layer_types:
        model.config.layer_types = [kind for index, kind in enumerate(layer_types) for _ in range(2 if (index + 1) % split == 0 else 1)]
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    new_ids = expanded_block_ids(len(expanded), num_expand)
    logger.info("Expanded %d blocks to %d (new: %s) in %s", num_layers, len(expanded), new_ids, output_dir)
    return output_dir


def _decoder_blocks(model):
    """The module holding the decoder blocks (``model.model`` for Llama-style models) and the blocks."""
    owner = getattr(model, "model", None)
    blocks = getattr(owner, "layers", None)
    if blocks is None or len(blocks) != model.config.num_hidden_layers:
        raise ModelError(f"`expand` needs a Llama-style model (model.layers); {type(model).__name__} has no such blocks.")
    return owner, blocks


def _identity_copy(block):
    import torch

    twin = copy.deepcopy(block)
    zeroed = [name for name, module in twin.named_modules() if name.split(".")[-1] in RESIDUAL_WRITERS]
    if len(zeroed) != len(RESIDUAL_WRITERS):
        raise ModelError(f"`expand` needs blocks with {' and '.join(RESIDUAL_WRITERS)} projections; this model's blocks have {zeroed}.")
    with torch.no_grad():
        for name in zeroed:
            module = twin.get_submodule(name)
            module.weight.zero_()
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    return twin
