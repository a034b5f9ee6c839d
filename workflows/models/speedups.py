"""Optional speed-ups from other packages: Liger's fused kernels (enable_liger_kernel) and Unsloth (use_unsloth).

Both need their package and a CUDA GPU (their kernels are written in Triton);
without them the run stops with a message naming the key and what to install,
instead of training slower than asked or failing deep inside a kernel.
"""

import importlib.util
import logging

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError

logger = logging.getLogger(__name__)


def require(key: str, module: str, package: str) -> None:
    """ModelError unless ``module`` imports and a CUDA GPU is present."""
    import torch

    if importlib.util.find_spec(module) is None:
        raise ModelError(
            f"`{key}: true` needs the {package} package, which is not installed: `pip install {package}` "
            f"(it also needs a CUDA GPU), or remove {key}."
        )
    if not torch.cuda.is_available():
        raise ModelError(f"`{key}: true` needs a CUDA GPU ({package} runs Triton kernels), and this machine has none: remove {key}.")


def apply_liger_kernel(model) -> None:
    """Patch the loaded model's norms, RoPE, MLP and loss with Liger's fused kernels."""
    require("enable_liger_kernel", "liger_kernel", "liger-kernel")
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model)  # the entry point transformers' own use_liger_kernel calls
    logger.info("Liger kernels applied to %s", type(model).__name__)


def load_unsloth_model(path: str, model_args: ModelArgs, cutoff_len: int | None, compute_dtype):
    """The model as Unsloth loads it (its patched attention, RoPE and 4-bit loading)."""
    require("use_unsloth", "unsloth", "unsloth")
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(
        model_name=path,
        max_seq_length=cutoff_len or 4096,
        dtype=compute_dtype,
        load_in_4bit=model_args.quantization_bit == 4,
        trust_remote_code=model_args.trust_remote_code,
        fix_tokenizer=False,  # the template fixes the tokenizer
        use_gradient_checkpointing="unsloth",
    )
    return model


def unsloth_lora(model, lora_config):
    """Unsloth's LoRA on the Unsloth model, with the settings of ``lora_config`` (a peft LoraConfig)."""
    from unsloth import FastLanguageModel

    from workflows.models.adapters import all_linear_names

    targets = all_linear_names(model) if lora_config.target_modules == "all-linear" else lora_config.target_modules
    return FastLanguageModel.get_peft_model(
        model=model,
        r=lora_config.r,
        target_modules=list(targets),
        lora_alpha=lora_config.lora_alpha,
        lora_dropout=lora_config.lora_dropout,
        use_rslora=lora_config.use_rslora,
        modules_to_save=lora_config.modules_to_save,
        layers_to_transform=lora_config.layers_to_transform,
        use_gradient_checkpointing="unsloth",
    )
