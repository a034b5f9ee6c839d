"""On-the-fly quantization of the base model (quantization_bit, quantization_method): bitsandbytes or EETQ.

Each library quantizes on a CUDA GPU only; what is missing (the GPU, the
package) is said before any weight loads, naming the key and what to install.
"""

import importlib.util

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError

REQUIRED_PACKAGES = {"bnb": ("bitsandbytes", "bitsandbytes"), "eetq": ("kernels", "kernels")}
"""quantization_method -> (module transformers imports, the pip package that provides it).
transformers 5 runs EETQ through `kernels`, which fetches the EETQ kernel from the Hugging Face Hub once."""


def quantization_config(model_args: ModelArgs, compute_dtype):
    """The transformers quantization config for quantization_bit with quantization_method; ModelError when it cannot run here."""
    import torch

    method, bits = model_args.quantization_method, model_args.quantization_bit
    module, package = REQUIRED_PACKAGES[method]
    if importlib.util.find_spec(module) is None:
        raise ModelError(
            f"`quantization_method: {method}` needs the {package} package, which is not installed: `pip install {package}`, "
            "or use quantization_method: bnb."
        )
    if not torch.cuda.is_available():
        raise ModelError(
            f"`quantization_bit: {bits}` with `quantization_method: {method}` (QLoRA) needs a CUDA GPU, and this machine has none. "
            "Remove quantization_bit to train in full precision here."
        )
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
