"""LoftQ: a base model with quantization-grid weights plus a LoRA adapter that restores what quantizing lost.

LoftQ quantizes each adapted weight W to Q and initialises the LoRA matrices so that
Q + BA stays close to W (alternating quantization and SVD, ``loftq_iter`` times).
Since the model then trains on Q, not W, the result is written as a new base model
(Q, in the original dtype) with its starting adapter in ``loftq_init/``, as
LLaMA-Factory's loftq_init script does. Needs a CUDA GPU (peft computes there). QLoRA then starts from a far better point:
train with ``model_name_or_path: <output_dir>``, ``adapter_name_or_path:
<output_dir>/loftq_init`` and ``quantization_bit`` (on a CPU, without it: Q is
already in the weights).
"""

import logging
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

ADAPTER_FOLDER = "loftq_init"


def loftq_init(config: RunConfig, output_dir: Path, loftq_bits: int, loftq_iter: int) -> Path:
    """Write the LoftQ base model and its initial adapter (LoRA keys from ``config``) to ``output_dir``; returns the adapter folder."""
    import dataclasses

    import torch
    from peft import LoftQConfig, get_peft_model

    from workflows.models.adapters import lora_config
    from workflows.models.loader import load_model, load_tokenizer

    if not torch.cuda.is_available():
        raise ModelError("`loftq` needs a CUDA GPU: peft computes the LoftQ quantization and SVD there, and this machine has none.")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigError(f"`output_dir: {output_dir}` already exists and is not empty: choose a new folder for the LoftQ model.")
    tokenizer = load_tokenizer(config.model)
    model = load_model(config.model, tokenizer)
    settings = dataclasses.replace(
        lora_config(model, config.finetuning),
        init_lora_weights="loftq",
        loftq_config=LoftQConfig(loftq_bits=loftq_bits, loftq_iter=loftq_iter),
    )
    logger.info("LoftQ: quantizing to %d bits with %d alternating steps", loftq_bits, loftq_iter)
    peft_model = get_peft_model(model, settings)
    adapter_dir = output_dir / ADAPTER_FOLDER
    adapter_config = peft_model.peft_config["default"]
    adapter_config.base_model_name_or_path = str(output_dir.resolve())
    adapter_config.init_lora_weights = True  # loading it must not quantize the base a second time
    adapter_config.loftq_config = {}
    peft_model.save_pretrained(adapter_dir)
    peft_model.unload().save_pretrained(output_dir)  # the base with Q in place of W
    tokenizer.save_pretrained(output_dir)
    return adapter_dir
