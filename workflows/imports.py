"""Import only what a command uses: peft only for adapters, bitsandbytes only to quantize, and never datasets.

transformers imports peft whenever it is installed (``transformers.trainer_utils``),
which costs about a second and tens of MB before the first step, and peft imports
bitsandbytes (another second: it pulls in torch's compiler). A run that trains no
adapter, loads none and quantizes nothing tells transformers that peft is absent;
a run that neither quantizes nor uses a bitsandbytes optimizer hides bitsandbytes.
``transformers.trainer`` also imports ``datasets`` (with pandas and pyarrow: about
0.8 s and 90 MB) whenever it is installed, though our features never are a
``datasets.Dataset``; it is hidden from transformers too. All of this happens
before the Trainer is first imported. transformers also imports scipy (about 0.4 s and
40 MB, in every environment that has it) for the matching step of its object-detection
losses, which no run of ours computes; it is hidden from transformers as well.
"""

import sys

from workflows.config import RunConfig
from workflows.config.schema import ADAPTER_TYPES
from workflows.models.quantization import quantized_models
from workflows.models_index import use_cached_models_index

OPTIONAL_PACKAGES = (
    "peft",
    "bitsandbytes",
    "trl",
    "deepspeed",
    "liger_kernel",
    "unsloth",
    "galore_torch",
    "apollo_torch",
    "badam",
    "adam_mini",
    "hqq",
    "eetq",
)


def needs_peft(config: RunConfig) -> bool:
    model, finetuning = config.model, config.finetuning
    return finetuning.finetuning_type in ADAPTER_TYPES or bool(model.adapter_name_or_path) or model.quantization_bit is not None


TORCH_OPTIMIZERS = frozenset({"adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop"})
"""``optim`` values that never touch bitsandbytes (its 8-bit and paged optimizers do, as do GaLore's and APOLLO's packages)."""


def needs_bitsandbytes(config: RunConfig) -> bool:
    """Whether any model of the run loads quantized (the policy, ``ref_model``, the reward model) or the optimizer needs it."""
    finetuning = config.finetuning
    return bool(quantized_models(config)) or config.training.optim not in TORCH_OPTIMIZERS or finetuning.use_galore or finetuning.use_apollo


def skip_unused_imports(config: RunConfig) -> None:
    """Call before anything imports ``transformers.trainer``; a no-op for what is needed or already imported.

    The decisions hold for the life of the process, so they are taken only in a
    process started for this one command (``python -m workflows train|chat|api ...``):
    a caller that works in-process (a notebook, the test suite) may train LoRA or QLoRA next.
    """
    main_module = getattr(sys.modules.get("__main__"), "__spec__", None)
    dedicated = main_module is not None and main_module.name == "workflows.__main__"
    if not dedicated:
        return
    use_cached_models_index()  # first: transformers builds one of the indexes as it is imported
    if not needs_bitsandbytes(config) and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None  # import and find_spec now say "not installed"; peft and transformers then skip it
    if "transformers.trainer_utils" in sys.modules:
        return
    if not needs_peft(config):
        _hide_from_transformers("is_peft_available")
    if "datasets" not in sys.modules:  # our features are numpy arrays (workflows.features.table): the Trainer needs no datasets
        _hide_from_transformers("is_datasets_available")
    hide_scipy_from_transformers()


def hide_scipy_from_transformers() -> None:
    """transformers' object-detection losses are the only users of scipy in its core, and no run of ours computes them.

    Call before ``transformers.modeling_utils`` is imported (the fork server does, before it preloads).
    """
    if "transformers.loss.loss_utils" not in sys.modules:
        _hide_from_transformers("is_scipy_available")


def _hide_from_transformers(check: str) -> None:
    """Make transformers' ``is_<package>_available`` say False, for the modules that import it from now on."""
    import transformers.utils as utils
    import transformers.utils.import_utils as import_utils

    def unavailable() -> bool:
        return False

    setattr(import_utils, check, unavailable)
    setattr(utils, check, unavailable)


def loaded_optional_packages() -> list[str]:
    """Which optional libraries this process has imported (recorded in provenance.json)."""
    return [name for name in OPTIONAL_PACKAGES if sys.modules.get(name) is not None]
