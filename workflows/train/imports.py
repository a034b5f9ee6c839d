"""Import only what a run uses: full and freeze fine-tuning never load peft (nor bitsandbytes, which peft pulls in).

transformers imports peft whenever it is installed (``transformers.trainer_utils``),
which costs about a second and tens of MB before the first step. A run that
trains no adapter, loads none and quantizes nothing tells transformers that peft
is absent, before the Trainer is first imported.
"""

import sys

from workflows.config import RunConfig
from workflows.models.adapters import ADAPTER_TYPES

OPTIONAL_PACKAGES = ("peft", "bitsandbytes", "trl", "deepspeed", "liger_kernel")


def needs_peft(config: RunConfig) -> bool:
    model, finetuning = config.model, config.finetuning
    return finetuning.finetuning_type in ADAPTER_TYPES or bool(model.adapter_name_or_path) or model.quantization_bit is not None


def skip_unused_imports(config: RunConfig) -> None:
    """Call before anything imports ``transformers.trainer``; a no-op when peft is needed or already imported.

    transformers keeps the decision for the life of the process, so it is taken
    only in a process started for this one run (``python -m workflows train``):
    a caller that trains in-process (a notebook, the test suite) may train LoRA next.
    """
    main_module = getattr(sys.modules.get("__main__"), "__spec__", None)
    dedicated = main_module is not None and main_module.name == "workflows.__main__"
    if not dedicated or needs_peft(config) or "transformers.trainer_utils" in sys.modules:
        return
    import transformers.utils as utils
    import transformers.utils.import_utils as import_utils

    def unavailable() -> bool:
        return False

    import_utils.is_peft_available = unavailable
    utils.is_peft_available = unavailable


def loaded_optional_packages() -> list[str]:
    """Which optional libraries this process has imported (recorded in provenance.json)."""
    return [name for name in OPTIONAL_PACKAGES if name in sys.modules]
