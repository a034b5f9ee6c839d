"""Settings that are valid alone but absurd for this model or this data, caught before any weight loads.

A LoRA rank above the hidden size builds adapters larger than the layers they
adapt (15.8 GB for the 4 MB tiny model); a cutoff past the model's context
trains on positions it never learned; a batch larger than the dataset just
means one smaller batch. The first two are errors, the last a warning.
"""

import logging

from workflows.config import RunConfig
from workflows.errors import ConfigError

logger = logging.getLogger(__name__)


def check_against_model(config: RunConfig, model_config, train_rows: int) -> None:
    hidden = getattr(model_config, "hidden_size", None)
    if config.finetuning.finetuning_type == "lora" and hidden and config.finetuning.lora_rank > hidden:
        raise ConfigError(
            f"`lora_rank: {config.finetuning.lora_rank}` is above the model's hidden size ({hidden}): the adapters would be larger "
            f"than the layers they adapt. Choose a rank of at most {hidden} (8 to 64 is usual)."
        )
    context = getattr(model_config, "max_position_embeddings", None)
    if context and config.data.cutoff_len > context and config.model.rope_scaling is None:
        raise ConfigError(
            f"`cutoff_len: {config.data.cutoff_len}` is longer than the model's context ({context} positions). "
            f"Lower cutoff_len to at most {context}, or set `rope_scaling` (linear, dynamic, yarn or llama3) to extend the context."
        )
    batch = config.training.per_device_train_batch_size
    if 0 < train_rows < batch:
        logger.warning(
            "per_device_train_batch_size (%d) is larger than the training set (%d rows after tokenisation): every step sees the "
            "whole set in one batch of %d.",
            batch,
            train_rows,
            train_rows,
        )
