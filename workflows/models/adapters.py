"""The trainable adapter of a LoRA or OFT run: a new one, or the last of adapter_name_or_path continued.

LoRA adds low-rank matrices beside each adapted layer (with its variants DoRA,
rsLoRA and PiSSA initialisation); OFT multiplies each adapted layer's weight by a
learned block-diagonal orthogonal matrix. Both are peft tuners: peft saves them as
``adapter_model.safetensors`` + ``adapter_config.json``, and ``merge_adapters``
loads either kind by what that config says.
"""

import logging

from workflows.config.schema import FinetuningArgs, ModelArgs
from workflows.errors import ConfigError
from workflows.models.llama_pro import expanded_block_ids
from workflows.models.loader import adapter_paths, merge_adapters

logger = logging.getLogger(__name__)


def setup_adapter(model, model_args: ModelArgs, finetuning: FinetuningArgs):
    """The peft model to train; earlier adapters are merged into the weights first."""
    from peft import PeftModel, get_peft_model

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
    keep_dtype = model_args.pure_bf16  # peft otherwise makes new adapter weights float32
    if resume_last:
        logger.info("Continuing to train adapter %s", paths[-1])
        if finetuning.pissa_init:
            logger.warning("pissa_init has no effect on a continued adapter: set create_new_adapter: true for a new PiSSA adapter")
        return PeftModel.from_pretrained(model, paths[-1], is_trainable=True, autocast_adapter_dtype=not keep_dtype)
    config = lora_config(model, finetuning) if finetuning.finetuning_type == "lora" else oft_config(model, finetuning)
    if model_args.use_unsloth:
        from workflows.models.speedups import unsloth_lora

        return unsloth_lora(model, config)
    target_key = f"{finetuning.finetuning_type}_target"
    try:
        return get_peft_model(model, config, autocast_adapter_dtype=not keep_dtype)
    except ValueError as error:
        raise ConfigError(f"`{target_key}: {getattr(finetuning, target_key)}` does not fit this model: {error}") from None


def lora_config(model, finetuning: FinetuningArgs):
    from peft import LoraConfig

    return LoraConfig(
        **_common(model, finetuning, finetuning.lora_target),
        r=finetuning.lora_rank,
        lora_alpha=finetuning.lora_alpha or finetuning.lora_rank * 2,
        lora_dropout=finetuning.lora_dropout,
        use_rslora=finetuning.use_rslora,
        use_dora=finetuning.use_dora,
        init_lora_weights=_pissa_init(finetuning) if finetuning.pissa_init else True,
    )


def oft_config(model, finetuning: FinetuningArgs):
    """OFT by blocks: oft_rank blocks per layer, or blocks of oft_block_size (peft takes exactly one of the two)."""
    from peft import OFTConfig

    return OFTConfig(
        **_common(model, finetuning, finetuning.oft_target),
        r=finetuning.oft_rank,
        oft_block_size=0 if finetuning.oft_rank else finetuning.oft_block_size,
        module_dropout=finetuning.module_dropout,
    )


def _common(model, finetuning: FinetuningArgs, target: str) -> dict:
    """What LoRA and OFT configs share: task, target modules, fully trained extras, and LLaMA Pro's choice of blocks."""
    from peft import TaskType

    targets = [name.strip() for name in target.split(",")]
    is_reward_model = type(model).__name__.endswith("ForSequenceClassification")  # stage rm: peft then trains the score head too
    layers = None
    if finetuning.use_llama_pro:
        layers = expanded_block_ids(model.config.num_hidden_layers, finetuning.freeze_trainable_layers)
        logger.info("LLaMA Pro: adapting blocks %s only", layers)
    if targets == ["all"]:  # peft cannot combine its "all-linear" with layers_to_transform: spell the names out there
        targets = all_linear_names(model) if layers else "all-linear"
    return {
        "task_type": TaskType.SEQ_CLS if is_reward_model else TaskType.CAUSAL_LM,
        "target_modules": targets,
        "modules_to_save": [name.strip() for name in finetuning.additional_target.split(",")] if finetuning.additional_target else None,
        "layers_to_transform": layers,
    }


def all_linear_names(model) -> list[str]:
    """Names of the linear layers inside the blocks, as peft's "all-linear" picks them (not the output head or score)."""
    import torch

    heads = {"lm_head", "score"}
    return sorted({name.split(".")[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)} - heads)


def _pissa_init(finetuning: FinetuningArgs) -> str:
    return "pissa" if finetuning.pissa_iter == -1 else f"pissa_niter_{finetuning.pissa_iter}"
