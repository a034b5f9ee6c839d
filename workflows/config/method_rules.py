"""What the adapter and model methods (OFT, LLaMA Pro, PiSSA, on-the-fly quantization, Unsloth), the batching
methods (packing, padding_free) and evaluation cannot be combined with.

Checked from the config alone, before anything loads; whether a package or a GPU is
there is checked where the package is used (workflows.models). Torch-free.
"""

from typing import TYPE_CHECKING

from workflows.stages import STAGES

if TYPE_CHECKING:
    from workflows.config.loader import RunConfig

QUANTIZATION_BITS = {"bnb": (4, 8), "eetq": (8,)}
"""The quantization_bit values each quantization_method takes."""
NOT_IN_PINNED_TRANSFORMERS = {
    "hqq": "its quantizer in transformers 5.23 cannot quantize a model as it loads (get_quantize_ops is not implemented)",
}
"""quantization_method values LLaMA-Factory offers that the pinned transformers cannot run: refused with the reason."""
LORA_ONLY_KEYS = ("use_dora", "use_rslora", "pissa_init", "loraplus_lr_ratio")
CONVERTING_STAGES = ("pt", "sft")
"""The stages whose recipe converts a PiSSA adapter to plain LoRA when it saves."""


def model_method_problems(config: "RunConfig") -> list[str]:
    model, ft = config.model, config.finetuning
    problems = []
    if model.quantization_bit is not None and model.quantization_method in NOT_IN_PINNED_TRANSFORMERS:
        problems.append(
            f"`quantization_method: {model.quantization_method}` is not supported in this version, because "
            f"{NOT_IN_PINNED_TRANSFORMERS[model.quantization_method]}: use quantization_method: bnb."
        )
    elif model.quantization_bit is not None and model.quantization_bit not in QUANTIZATION_BITS[model.quantization_method]:
        bits = " or ".join(str(bit) for bit in QUANTIZATION_BITS[model.quantization_method])
        problems.append(
            f"`quantization_method: {model.quantization_method}` quantizes to {bits} bits, not {model.quantization_bit}: "
            f"set `quantization_bit: {bits.split()[-1]}` or choose another quantization_method."
        )
    if ft.use_llama_pro and ft.finetuning_type == "full":
        problems.append(
            "`use_llama_pro` trains only the expanded blocks, but `finetuning_type: full` trains every weight: use freeze, lora or oft."
        )
    if ft.use_llama_pro and ft.freeze_trainable_layers < 1:
        problems.append(
            f"`use_llama_pro` reads `freeze_trainable_layers` as the number of blocks `python -m workflows expand` added "
            f"(num_expand), so it must be positive, not {ft.freeze_trainable_layers}."
        )
    if ft.finetuning_type == "oft":
        lora_only = [key for key in LORA_ONLY_KEYS if getattr(ft, key)]
        if lora_only:
            problems.append(f"{', '.join(f'`{key}`' for key in lora_only)}: LoRA settings, not for `finetuning_type: oft`; remove them.")
    if ft.pissa_init and ft.stage not in CONVERTING_STAGES:
        problems.append(
            f"`pissa_init` works in stages {' and '.join(CONVERTING_STAGES)}, whose adapter is converted to plain LoRA when saved; "
            f"stage {ft.stage} would save one that fits only weights it does not save: remove pissa_init."
        )
    if not ft.pissa_convert:
        problems.append(
            "`pissa_convert: false` is not supported in this version, because an unconverted PiSSA adapter fits only the "
            "residual weights PiSSA leaves in the model, which are not saved, so chat and export would use the wrong model: "
            "remove pissa_convert (the adapter is always converted)."
        )
    if model.use_unsloth and (ft.finetuning_type != "lora" or ft.stage not in ("pt", "sft")):
        problems.append(f"`use_unsloth` trains LoRA in stages pt and sft, not {ft.finetuning_type} in stage {ft.stage}.")
    if model.use_unsloth and model.quantization_bit == 8:
        problems.append("`use_unsloth` quantizes to 4 bits: set `quantization_bit: 4` or remove use_unsloth.")
    if model.use_unsloth and (model.enable_liger_kernel or model.pure_bf16):
        other = "enable_liger_kernel" if model.enable_liger_kernel else "pure_bf16"
        problems.append(f"`use_unsloth` patches the model its own way: remove `{other}`.")
    return problems


SEQUENCE_FEATURES = ("pretrain", "supervised")
"""Feature kinds whose rows are single sequences, which packing and padding_free may join (``Stage.features``)."""


def stage_problems(config: "RunConfig") -> list[str]:
    """What the stage's rows do not allow: packing and padding_free join rows into one, but a row of rm/dpo/kto/ppo is a
    pair, a labelled answer or a prompt; ppo generates its answers, so it has no held-out loss to evaluate."""
    stage = STAGES[config.finetuning.stage]
    problems = []
    if stage.features == "prompt":
        evaluation = {"val_size": config.data.val_size, "eval_dataset": config.data.eval_dataset}
        evaluation["eval_strategy"] = None if config.training.eval_strategy == "no" else config.training.eval_strategy
        keys = [f"`{key}`" for key, value in evaluation.items() if value]
        if keys:
            problems.append(
                f"stage `{stage.name}` has no evaluation (its answers are generated, so there is no held-out loss; "
                f"LLaMA-Factory's neither): remove {', '.join(keys)}."
            )
    if stage.features in SEQUENCE_FEATURES:
        return problems
    sequence_stages = " and ".join(name for name, other in STAGES.items() if other.features in SEQUENCE_FEATURES)
    if config.data.packing:
        problems.append(
            f"`packing: true` joins examples into one sequence, which only stages {sequence_stages} train on: stage "
            f"`{stage.name}` ({stage.summary}) would see the answers of different examples glued together. Remove `packing` "
            "(LLaMA-Factory's `neat_packing` turns it on too)."
        )
    if config.data.padding_free:
        problems.append(
            f"`padding_free: true` flattens the batches of stages {sequence_stages} only; stage `{stage.name}` pads its "
            "batches: remove `padding_free`."
        )
    return problems
