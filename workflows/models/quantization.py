"""On-the-fly quantization of the base model (quantization_bit, quantization_method): bitsandbytes or EETQ.

Each library quantizes on a CUDA GPU only; what is missing (the GPU, the
package) is said before any weight loads, naming the key and what to install.
"""

import importlib.util
from typing import Optional

from workflows.config import RunConfig
from workflows.config.schema import ModelArgs
from workflows.errors import ModelError

REQUIRED_PACKAGES = {"bnb": ("bitsandbytes", "bitsandbytes"), "eetq": ("kernels", "kernels")}
"""quantization_method -> (module transformers imports, the pip package that provides it).
transformers 5 runs EETQ through `kernels`, which fetches the EETQ kernel from the Hugging Face Hub once."""


def quantization_config(model_args: ModelArgs, compute_dtype):
    """The transformers quantization config for quantization_bit with quantization_method; ModelError when it cannot run here."""
    import torch

    method, bits = model_args.quantization_method, model_args.quantization_bit
    problem = quantization_problem("quantization_bit", bits, method)
    if problem:
        raise ModelError(problem)
    if method == "eetq":
        from transformers import EetqConfig

        return EetqConfig()
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=model_args.quantization_type,
        bnb_4bit_use_double_quant=model_args.double_quantization,
        bnb_4bit_compute_dtype=compute_dtype or torch.float16,
        bnb_4bit_quant_storage=compute_dtype or torch.float16,
    )


def quantized_models(config: RunConfig) -> list[tuple[str, int, str]]:
    """(key, bits, quantization_method) of each model the run loads quantized: the policy, ``ref_model``, the reward model."""
    rlhf, stage = config.rlhf, config.finetuning.stage
    method, ref_method = config.model.quantization_method, ModelArgs.model_fields["quantization_method"].default  # as they load
    asked = [
        ("quantization_bit", config.model.quantization_bit, method),
        ("ref_model_quantization_bit", rlhf.ref_model_quantization_bit if rlhf.ref_model else None, ref_method),
        ("reward_model_quantization_bit", rlhf.reward_model_quantization_bit if stage == "ppo" else None, method),
    ]
    return [(key, bits, method) for key, bits, method in asked if bits is not None]


def quantization_problem(key: str, bits: int, method: str) -> Optional[str]:
    """Why ``key: bits`` with ``quantization_method: method`` cannot quantize on this machine; None when it can."""
    import torch

    module, package = REQUIRED_PACKAGES[method]
    if importlib.util.find_spec(module) is None:
        instead = "" if method == "bnb" else ", or use quantization_method: bnb"
        return (
            f"`{key}: {bits}` with `quantization_method: {method}` needs the {package} package, which is not installed: "
            f"`pip install {package}`{instead}."
        )
    if not torch.cuda.is_available():
        return (
            f"`{key}: {bits}` with `quantization_method: {method}` needs a CUDA GPU, and this machine has none. "
            f"Remove {key} to load that model in full precision here."
        )
    return None


def check_quantization(config: RunConfig) -> None:
    """Refuse, before anything loads, a quantized model of the run that this machine cannot quantize, naming its key."""
    for key, bits, method in quantized_models(config):
        problem = quantization_problem(key, bits, method)
        if problem:
            raise ModelError(problem)
