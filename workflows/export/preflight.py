"""Refuse an export that cannot succeed before anything is loaded or written (each a UserError: exit 2)."""

import json
import shutil
from pathlib import Path

from workflows.config import RunConfig
from workflows.config.schema import ADAPTER_TYPES
from workflows.errors import ConfigError, ModelError
from workflows.models.loader import resolve_model_path

GGUF_ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
"""Hugging Face architectures we write as GGUF, and the llama.cpp architecture each becomes (Mistral is Llama to llama.cpp)."""
FULL_MODEL_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DISK_MARGIN = 1.1


def check_request(config: RunConfig, export_dir: Path) -> None:
    """Everything that can be checked from the config and the files on disk."""
    _check_adapters(config)
    _check_export_dir(export_dir)
    _check_gptq(config)
    if config.export.export_gguf:
        gguf_architecture(model_config(config))


def _check_adapters(config: RunConfig) -> None:
    from workflows.eval.checkpoints import check_adapters_match_base

    raw = [part.strip() for part in (config.model.adapter_name_or_path or "").split(",") if part.strip()]
    for adapter in raw:
        folder = Path(adapter)
        if not (folder / "adapter_config.json").is_file() and any((folder / name).is_file() for name in FULL_MODEL_FILES):
            raise ModelError(
                f"`{adapter}` (adapter_name_or_path) holds a whole model (a full or freeze fine-tuning checkpoint), not LoRA adapters: "
                f"export it with `model_name_or_path: {adapter}`, `finetuning_type: full` and no adapter_name_or_path."
            )
    if config.finetuning.finetuning_type in ADAPTER_TYPES and not raw:
        raise ConfigError(
            f"Nothing to merge: an adapter export (`finetuning_type: {config.finetuning.finetuning_type}`) needs "
            "`adapter_name_or_path` (a LoRA or OFT run directory or "
            "its checkpoint-N). To convert the model as it is (a base model or a full fine-tuning run), set `finetuning_type: full`."
        )
    if raw and config.finetuning.finetuning_type not in ADAPTER_TYPES:
        raise ConfigError(
            f"`adapter_name_or_path` is set but `finetuning_type` is {config.finetuning.finetuning_type}: "
            "adapters are LoRA or OFT; set finetuning_type to lora (or oft)."
        )
    if config.model.quantization_bit is not None:
        raise ConfigError(
            f"`quantization_bit: {config.model.quantization_bit}` loads the base quantized, and adapters cannot be merged into "
            "quantized weights: remove quantization_bit (use export_quantization_bit to quantize the export)."
        )
    check_adapters_match_base(config.model)


def _check_export_dir(export_dir: Path) -> None:
    if export_dir.exists() and (not export_dir.is_dir() or any(export_dir.iterdir())):
        raise ConfigError(f"`export_dir: {export_dir}` already exists and is not empty: choose a new folder, or remove that one first.")


def _check_gptq(config: RunConfig) -> None:
    bits = config.export.export_quantization_bit
    if bits is None:
        return
    from workflows.export.gptq import check_gptq_available

    if not config.export.export_quantization_dataset:
        raise ConfigError(f"`export_quantization_bit: {bits}` (GPTQ) needs calibration data: set `export_quantization_dataset`.")
    if not Path(config.export.export_quantization_dataset).is_file():
        raise ConfigError(f"`export_quantization_dataset: {config.export.export_quantization_dataset}` is not a file.")
    check_gptq_available(bits)


def model_config(config: RunConfig) -> dict:
    path = Path(resolve_model_path(config.model.model_name_or_path)) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def gguf_architecture(hf_config: dict) -> str:
    """The llama.cpp architecture name for a model's config.json, or a ConfigError naming the architecture."""
    names = hf_config.get("architectures") or [hf_config.get("model_type", "unknown")]
    for name in names:
        if name in GGUF_ARCHITECTURES:
            return GGUF_ARCHITECTURES[name]
    raise ConfigError(
        f"`export_gguf` cannot convert the architecture {names[0]}: GGUF export supports {', '.join(GGUF_ARCHITECTURES)}. "
        "Remove export_gguf to export safetensors only (llama.cpp's own convert_hf_to_gguf.py may know this architecture)."
    )


def estimated_bytes(parameters: int, bytes_per_parameter: int, gguf_type: str | None) -> int:
    """Bytes the export will write: the safetensors shards, plus the GGUF file when asked for."""
    gguf_bytes = {None: 0, "f32": 4, "f16": 2, "bf16": 2, "q8_0": 1.07, "q5_1": 0.75, "q5_0": 0.69, "q4_1": 0.63, "q4_0": 0.57}
    return int(parameters * (bytes_per_parameter + gguf_bytes[gguf_type]))


def check_disk_space(needed: int, folder: Path, free: int | None = None) -> None:
    """Refuse before writing when the folder's file system cannot hold ``needed`` bytes (plus a 10% margin)."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free if free is None else free
    if needed * DISK_MARGIN > free:
        raise ConfigError(
            f"Not enough disk space for the export in {folder}: it needs about {needed / 1e9:.2f} GB and "
            f"{free / 1e9:.2f} GB are free. Free some space or set export_dir on a larger disk."
        )
