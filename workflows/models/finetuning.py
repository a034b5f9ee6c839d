"""Decide which weights train: full, freeze (some layers) or LoRA and its variants."""

import logging

from workflows.config.schema import FinetuningArgs, ModelArgs
from workflows.errors import ConfigError
from workflows.models.loader import adapter_paths, merge_adapters

logger = logging.getLogger(__name__)


def prepare_for_training(model, model_args: ModelArgs, finetuning: FinetuningArgs, *, gradient_checkpointing: bool):
    """Return the model to train, with only the chosen parameters requiring gradients."""
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    if finetuning.finetuning_type == "lora":
        model = _setup_lora(model, model_args, finetuning)
    else:
        model = merge_adapters(model, adapter_paths(model_args))
        if finetuning.finetuning_type == "freeze":
            _setup_freeze(model, finetuning)
        else:
            model.requires_grad_(True)
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


def _setup_freeze(model, finetuning: FinetuningArgs) -> None:
    num_layers = model.config.num_hidden_layers
    count = finetuning.freeze_trainable_layers
    if count == 0 or abs(count) > num_layers:
        raise ConfigError(
            f"`freeze_trainable_layers: {count}` must be between -{num_layers} and {num_layers} (not 0) for this {num_layers}-layer model."
        )
    layer_ids = range(num_layers - count, num_layers) if count > 0 else range(-count)
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


def _setup_lora(model, model_args: ModelArgs, finetuning: FinetuningArgs):
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    paths = adapter_paths(model_args)
    if model_args.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    resume_last = bool(paths) and not finetuning.create_new_adapter
    to_merge = paths[:-1] if resume_last else paths
    if to_merge and model_args.quantization_bit is not None:
        raise ConfigError(
            "Adapters cannot be merged into a quantized model: train on one adapter with quantization_bit, or remove quantization_bit."
        )
    model = merge_adapters(model, to_merge)
    if resume_last:
        logger.info("Continuing to train adapter %s", paths[-1])
        return PeftModel.from_pretrained(model, paths[-1], is_trainable=True)
    targets = [name.strip() for name in finetuning.lora_target.split(",")]
    is_reward_model = type(model).__name__.endswith("ForSequenceClassification")  # stage rm: peft then trains the score head too
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS if is_reward_model else TaskType.CAUSAL_LM,
        r=finetuning.lora_rank,
        lora_alpha=finetuning.lora_alpha or finetuning.lora_rank * 2,
        lora_dropout=finetuning.lora_dropout,
        target_modules="all-linear" if targets == ["all"] else targets,
        modules_to_save=[name.strip() for name in finetuning.additional_target.split(",")] if finetuning.additional_target else None,
        use_rslora=finetuning.use_rslora,
        use_dora=finetuning.use_dora,
        init_lora_weights=_pissa_init(finetuning) if finetuning.pissa_init else True,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as error:
        raise ConfigError(f"`lora_target: {finetuning.lora_target}` does not fit this model: {error}") from None


def _pissa_init(finetuning: FinetuningArgs) -> str:
    return "pissa" if finetuning.pissa_iter == -1 else f"pissa_niter_{finetuning.pissa_iter}"
