"""Optional speed-ups from other packages: FlashAttention-2 (flash_attn: fa2), Liger's fused kernels
(enable_liger_kernel) and Unsloth (use_unsloth).

Each needs its package and a CUDA GPU. ``check_speedups`` runs before any weight
loads (``load_model`` calls it first), so a run that cannot have what it asked for
stops at once with a message naming the key, what to install and what to set
instead, rather than after minutes of loading, deep inside a kernel, or training
slower than asked. The speed options that need no package (``torch_compile``,
``optim: adamw_torch_fused``) are TrainingArguments keys passed through as they are.
"""

import importlib.util
import logging
from dataclasses import dataclass

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Speedup:
    setting: str
    """How a config asks for it."""
    module: str
    """What it imports."""
    install: str
    """The command that installs it."""
    why_cuda: str
    """Why it cannot run without a CUDA GPU."""
    instead: str
    """What to set on a machine that cannot run it."""

    def is_asked_by(self, model_args: ModelArgs) -> bool:
        key, _, value = self.setting.partition(": ")
        return str(getattr(model_args, key)).lower() == value


FLASH_ATTENTION_2 = Speedup(
    "flash_attn: fa2",
    "flash_attn",
    "pip install flash-attn --no-build-isolation",
    "FlashAttention-2's kernels are CUDA-only",
    "set `flash_attn: auto` (PyTorch's sdpa attention)",
)
LIGER = Speedup(
    "enable_liger_kernel: true",
    "liger_kernel",
    "pip install liger-kernel",
    "Liger's kernels are written in Triton",
    "remove enable_liger_kernel",
)
UNSLOTH = Speedup("use_unsloth: true", "unsloth", "pip install unsloth", "Unsloth's kernels are written in Triton", "remove use_unsloth")
SPEEDUPS = (FLASH_ATTENTION_2, LIGER, UNSLOTH)


def require(speedup: Speedup) -> None:
    """ModelError unless the speed-up's package imports and a CUDA GPU is present."""
    import torch

    if importlib.util.find_spec(speedup.module) is None:
        raise ModelError(
            f"`{speedup.setting}` needs the {speedup.module} package, which is not installed: `{speedup.install}` "
            f"(it also needs a CUDA GPU), or {speedup.instead}."
        )
    if not torch.cuda.is_available():
        raise ModelError(f"`{speedup.setting}` needs a CUDA GPU ({speedup.why_cuda}), and this machine has none: {speedup.instead}.")


def check_speedups(model_args: ModelArgs) -> None:
    """Refuse, before any weight loads, a speed-up that this machine cannot run."""
    for speedup in SPEEDUPS:
        if speedup.is_asked_by(model_args):
            require(speedup)


def check_training_precision(model_args: ModelArgs, half_precision: bool) -> None:
    """FlashAttention-2 computes in fp16/bf16 only: a float32 training run with it would fail at its first step."""
    if FLASH_ATTENTION_2.is_asked_by(model_args) and not (half_precision or model_args.pure_bf16):
        raise ModelError("`flash_attn: fa2` computes in half precision only: set `bf16: true` (or `fp16: true`), or `flash_attn: auto`.")


def apply_liger_kernel(model) -> None:
    """Patch the model's norms, RoPE, MLP and loss with Liger's fused kernels (``check_speedups`` ran first)."""
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model)  # the entry point transformers' own use_liger_kernel calls
    logger.info("Liger kernels applied to %s", type(model).__name__)


def load_unsloth_model(path: str, model_args: ModelArgs, cutoff_len: int | None, compute_dtype):
    """The model as Unsloth loads it (its patched attention, RoPE and 4-bit loading; ``check_speedups`` ran first)."""
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
