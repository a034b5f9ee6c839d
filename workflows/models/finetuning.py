"""Decide which weights train: full, freeze (some layers), or an adapter (LoRA and its variants, OFT)."""

import logging

from workflows.config.schema import ADAPTER_TYPES, FinetuningArgs, ModelArgs
from workflows.errors import ConfigError
from workflows.models.adapters import setup_adapter
from workflows.models.llama_pro import expanded_block_ids
from workflows.models.loader import adapter_paths, merge_adapters

logger = logging.getLogger(__name__)


def prepare_for_training(model, model_args: ModelArgs, finetuning: FinetuningArgs, *, gradient_checkpointing: bool):
    """Return the model to train, with only the chosen parameters requiring gradients."""
    if model_args.enable_liger_kernel:
        from workflows.models.speedups import apply_liger_kernel

        apply_liger_kernel(model)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    if finetuning.finetuning_type in ADAPTER_TYPES:
        model = setup_adapter(model, model_args, finetuning)
    else:
        model = merge_adapters(model, adapter_paths(model_args))
        if finetuning.finetuning_type == "freeze":
            _setup_freeze(model, finetuning)
        else:
            model.requires_grad_(True)
        if not model_args.pure_bf16:
            _upcast_trainable(model)
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    total = sum(parameter.numel() for parameter in model.parameters())
    logger.info("Trainable parameters: %d of %d (%.4f%%)", trainable, total, 100 * trainable / total)
    return model


def _upcast_trainable(model) -> None:
    """Optimizer states of half-precision weights lose updates; keep trainable weights in fp32."""
    import torch

    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype in (torch.float16, torch.bfloat16):
            parameter.data = parameter.data.float()


def _trainable_layer_ids(num_layers: int, finetuning: FinetuningArgs) -> list[int]:
    """The last (positive count) or first (negative) freeze_trainable_layers layers; with LLaMA Pro, the expanded blocks."""
    count = finetuning.freeze_trainable_layers
    if finetuning.use_llama_pro:
        return expanded_block_ids(num_layers, count)
    if count == 0 or abs(count) > num_layers:
        raise ConfigError(
            f"`freeze_trainable_layers: {count}` must be between -{num_layers} and {num_layers} (not 0) for this {num_layers}-layer model."
        )
    return list(range(num_layers - count, num_layers) if count > 0 else range(-count))


def _setup_freeze(model, finetuning: FinetuningArgs) -> None:
    layer_ids = _trainable_layer_ids(model.config.num_hidden_layers, finetuning)
    modules = [name.strip() for name in finetuning.freeze_trainable_modules.split(",")]
    extras = [name.strip() for name in (finetuning.freeze_extra_modules or "").split(",") if name.strip()]
    prefixes = [f".layers.{layer}." for layer in layer_ids]
    matched_modules: set[str] = set()
    for name, parameter in model.named_parameters():
        in_layer = any(prefix in f".{name}" for prefix in prefixes)
        module_ok = "all" in modules or any(f".{module}." in name for module in modules)
        extra = any(f"{module}." in name or name.startswith(module) for module in extras)
        parameter.requires_grad_((in_layer and module_ok) or extra)
        matched_modules.update(module for module in modules + extras if f"{module}." in name)
    missing = [module for module in modules + extras if module != "all" and module not in matched_modules]
    if missing:
        raise ConfigError(f"Freeze modules {missing} (freeze_trainable_modules / freeze_extra_modules) match no parameter of this model.")
    logger.info("Freeze: training layers %s, modules %s", list(layer_ids), modules + extras)
