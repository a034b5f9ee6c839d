"""Load a tokenizer and a model, with adapters, quantization and attention settings."""

import json
import logging
import os
from pathlib import Path

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError
from workflows.models.pissa import is_unconverted
from workflows.models.quantization import quantization_config
from workflows.models.speedups import check_speedups, load_unsloth_model
from workflows.models.tiny import build_tiny_model, is_builtin

logger = logging.getLogger(__name__)
ATTENTION_IMPLEMENTATIONS = {"auto": None, "sdpa": "sdpa", "fa2": "flash_attention_2", "disabled": "eager"}


def resolve_model_path(model_name_or_path: str) -> str:
    """The built-in model's folder, an existing local folder, or the hub id unchanged."""
    if is_builtin(model_name_or_path):
        return str(build_tiny_model())
    local = Path(model_name_or_path).expanduser()
    if local.is_dir():
        return str(local)
    if local.is_absolute() or model_name_or_path.startswith((".", "~")) or model_name_or_path.count("/") > 1:
        raise ModelError(
            f"Model folder `{model_name_or_path}` (model_name_or_path) does not exist. "
            "Pass an existing local folder or a hub id like Qwen/Qwen2.5-0.5B-Instruct."
        )
    return model_name_or_path


def refuse_adapter_as_model(folder: Path) -> None:
    """A LoRA run's folder holds an adapter, not a model: say which key takes it, rather than transformers' "no model_type"."""
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        base = _trained_on(folder) or "its base model"
        raise ModelError(
            f"`{folder}` (model_name_or_path) holds an adapter (adapter_config.json), not a model: pass it as "
            f"adapter_name_or_path={folder}, with model_name_or_path set to the model it was trained on ({base})."
        )


def _trained_on(adapter_folder: Path) -> str | None:
    """The base model as the run named it (run.yaml of a LlamaBoard run), else as peft saved it."""
    import yaml

    for folder in (adapter_folder, adapter_folder.parent):
        if (folder / "run.yaml").is_file():
            return (yaml.safe_load((folder / "run.yaml").read_text()) or {}).get("model_name_or_path")
    return json.loads((adapter_folder / "adapter_config.json").read_text()).get("base_model_name_or_path")


def _hub_error(name: str, key: str, error: Exception) -> ModelError:
    return ModelError(
        f"Could not load `{name}` ({key}): it is not a local folder, and the model hub did not provide it ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else 'no details'}). On a machine without hub access, download the model elsewhere "
        f"and pass its local folder, or use the built-in model `llamaboard-tiny`."
    )


def load_tokenizer(model_args: ModelArgs, padding_side: str = "right"):
    from transformers import AutoTokenizer

    path = resolve_model_path(model_args.model_name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code, padding_side=padding_side
        )
    except (OSError, ValueError) as error:
        raise _hub_error(model_args.model_name_or_path, "model_name_or_path", error) from None
    return tokenizer


def load_model_config(model_args: ModelArgs):
    """The model's ``config.json`` alone (sizes, context length): cheap, so settings can be checked before any weight loads."""
    from transformers import AutoConfig

    path = resolve_model_path(model_args.model_name_or_path)
    refuse_adapter_as_model(Path(path))
    try:
        return AutoConfig.from_pretrained(path, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code)
    except (OSError, ValueError) as error:
        raise _hub_error(model_args.model_name_or_path, "model_name_or_path", error) from None


def load_model(model_args: ModelArgs, tokenizer, *, cutoff_len: int | None = None, compute_dtype=None, model_class=None):
    """The base model, ready for training setup or inference (``merge_adapters`` applies adapters).

    ``model_class`` replaces AutoModelForCausalLM (the reward model is an AutoModelForSequenceClassification).
    ``pure_bf16`` loads the weights in bfloat16 whatever ``compute_dtype`` says. A speed-up this machine
    cannot run (``flash_attn: fa2`` without flash-attn or CUDA, say) is refused before anything loads.
    """
    import torch
    from transformers import AutoModelForCausalLM

    check_speedups(model_args)
    path = resolve_model_path(model_args.model_name_or_path)
    if model_class is None:
        _refuse_reward_model(path)
    if model_args.pure_bf16:
        compute_dtype = torch.bfloat16
    if model_args.use_unsloth and model_class is None:
        return load_unsloth_model(path, model_args, cutoff_len, compute_dtype)
    config = load_model_config(model_args)
    _apply_rope_scaling(config, model_args, cutoff_len)
    kwargs = {
        "config": config,
        "cache_dir": model_args.cache_dir,
        "trust_remote_code": model_args.trust_remote_code,
        "attn_implementation": ATTENTION_IMPLEMENTATIONS[model_args.flash_attn],
    }
    if compute_dtype is not None:
        kwargs["dtype"] = compute_dtype
    if model_args.quantization_bit is not None:
        kwargs["quantization_config"] = quantization_config(model_args, compute_dtype)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    if model_class is not None:
        config.num_labels = 1  # the reward model's score head
    model = (model_class or AutoModelForCausalLM).from_pretrained(path, **kwargs)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    return model


def _refuse_reward_model(path: str) -> None:
    """A run of stage rm scores answers (a sequence-classification head): it cannot be loaded as a language model."""
    folder = Path(path)
    adapter = folder / "adapter_config.json"
    is_reward_adapter = adapter.is_file() and '"SEQ_CLS"' in adapter.read_text(encoding="utf-8")
    config = folder / "config.json"
    is_reward_model = config.is_file() and "ForSequenceClassification" in config.read_text(encoding="utf-8")
    if is_reward_adapter or is_reward_model:
        raise ModelError(
            f"`{path}` is a reward model (a run of stage rm): it scores answers and cannot generate or chat. "
            "Use it as `reward_model` of a ppo run; chat with an sft, dpo, kto or ppo run instead."
        )


def adapter_paths(model_args: ModelArgs) -> list[str]:
    if not model_args.adapter_name_or_path:
        return []
    paths = [part.strip() for part in model_args.adapter_name_or_path.split(",") if part.strip()]
    for path in paths:
        if not (Path(path) / "adapter_config.json").is_file():
            raise ModelError(
                f"Adapter `{path}` (adapter_name_or_path) is not a folder with adapter_config.json. "
                "Pass a run directory or checkpoint-N folder of a LoRA or OFT run."
            )
        if '"SEQ_CLS"' in (Path(path) / "adapter_config.json").read_text(encoding="utf-8"):
            raise ModelError(
                f"Adapter `{path}` (adapter_name_or_path) is a reward model (stage rm): it scores answers and cannot chat or "
                "be merged into a chat model. Use it as `reward_model` of a ppo run."
            )
        if is_unconverted(path):
            raise ModelError(
                f"Adapter `{path}` (adapter_name_or_path) was saved in PiSSA form, as older versions saved a PiSSA run's "
                "checkpoints: it fits only the residual weights of its run, which are not saved, so on the original model it "
                "is not the model that was trained. Use the run's final adapter, or resume the run from this checkpoint "
                "(resume_from_checkpoint): this version saves every checkpoint converted to plain LoRA."
            )
    return paths


def merge_adapters(model, paths: list[str]):
    """Apply adapters (LoRA, OFT: peft reads which from adapter_config.json) one after another, merging each into the weights."""
    if not paths:
        return model  # without importing peft
    from peft import PeftModel

    for path in paths:
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        logger.info("Merged adapter %s", path)
    return model


def _apply_rope_scaling(config, model_args: ModelArgs, cutoff_len: int | None) -> None:
    if model_args.rope_scaling is None:
        return
    trained_len = getattr(config, "max_position_embeddings", None)
    if not trained_len or not cutoff_len or cutoff_len <= trained_len:
        logger.warning("rope_scaling ignored: cutoff_len (%s) does not exceed the model's %s positions", cutoff_len, trained_len)
        return
    factor = float(-(-cutoff_len // trained_len))
    parameters = dict(getattr(config, "rope_parameters", None) or {})
    parameters.update(rope_type=model_args.rope_scaling, factor=factor)
    if model_args.rope_scaling in ("yarn", "llama3"):
        parameters["original_max_position_embeddings"] = trained_len
    config.rope_parameters = parameters
    config.max_position_embeddings = trained_len * int(factor)
    logger.info("RoPE scaling %s with factor %.1f", model_args.rope_scaling, factor)
