"""LLaMA-Factory keys that this version renames, ignores or does not support: the one table of them.

A config written for LLaMA-Factory may carry keys of features LlamaBoard does not
have. Rather than "unknown key", each such key is read here:

- ``Renamed``: read under its current name (a note is logged);
- ``Ignored``: accepted whatever its value, because it changes nothing here (a note is logged);
- ``TurnsOn``: a flag whose ``true`` is what one of our settings does with one value (``true`` unless
  the entry names another: it is set, and a note is logged), and whose ``false`` asks for nothing;
- ``Unsupported``: accepted, and dropped, while its value asks for nothing (LLaMA-Factory's
  default); any other value is refused with the reason and what to do instead.

Keys of the schema win over this table; a test keeps the two apart. Torch-free, like the schema.
"""

import logging
from dataclasses import dataclass
from typing import Any

import yaml

from workflows.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Renamed:
    key: str
    note: str


@dataclass(frozen=True)
class Ignored:
    note: str


@dataclass(frozen=True)
class TurnsOn:
    key: str
    note: str
    value: Any = True
    """What ``key`` is set to when the legacy flag is true."""


@dataclass(frozen=True)
class Unsupported:
    reason: str
    """Completes "`key` is not supported in this version, because ..."."""
    harmless: tuple = (None, False)
    """Values that ask for nothing (LLaMA-Factory's default): accepted and dropped."""


NEW_TOKENS = "adding tokens to the vocabulary is not built (the tokenizer is used as the model ships it)"
TEXT_ONLY = "images, video and audio are not read: LlamaBoard trains text-only models"
VLLM = "the vLLM engine's settings come from the model and adapter here (context length, LoRA rank) and are not configurable yet"
SGLANG = "the SGLang engine's settings come from the model and adapter here and are not configurable yet"
KTRANSFORMERS = "the KTransformers mixture-of-experts backend is not supported"
SWANLAB = "SwanLab is reached through transformers here: set `report_to: swanlab` (with the swanlab package) and its SWANLAB_* variables"
SFT_LOSSES = "the DFT, ASFT and EAFT losses are not built: sft trains on the standard next-token loss"
HYPER_PARALLEL = "the HyperParallel backend is not supported: use nproc_per_node (DDP), DeepSpeed or FSDP"

LEGACY_KEYS: dict[str, Renamed | Ignored | TurnsOn | Unsupported] = {
    # renamed
    "evaluation_strategy": Renamed("eval_strategy", "transformers renamed it eval_strategy (4.41) and removed the old name"),
    "use_liger_kernel": Renamed("enable_liger_kernel", "transformers' name for LLaMA-Factory's enable_liger_kernel"),
    # model loading
    "adapter_folder": Unsupported("adapters are read from the folders in adapter_name_or_path: put the subfolder's path there"),
    "use_fast_tokenizer": Unsupported("only fast tokenizers are loaded (the chat templates are checked against them)", harmless=(True,)),
    "resize_vocab": Unsupported(
        "the embeddings are resized on their own when the tokenizer has more tokens than the model; "
        "to train them, add embed_tokens and lm_head to additional_target (lora) or freeze_extra_modules (freeze)"
    ),
    "split_special_tokens": Unsupported("special tokens are always kept whole, as the chat templates expect"),
    "add_tokens": Unsupported(NEW_TOKENS),
    "add_special_tokens": Unsupported(NEW_TOKENS),
    "new_special_tokens_config": Unsupported(NEW_TOKENS),
    "init_special_tokens": Unsupported(NEW_TOKENS, harmless=("noise_init",)),
    "model_revision": Unsupported(
        "models are read from a local folder or the hub's main revision: download the revision you want and pass its folder",
        harmless=("main",),
    ),
    "low_cpu_mem_usage": Ignored("transformers 5 always loads weights straight into place"),
    "offload_folder": Ignored("weights are never offloaded to disk here"),
    "print_param_status": Ignored("the log states how many parameters train"),
    "shift_attn": Unsupported(
        "LongLoRA's shift short attention patched the attention code of old transformers versions (LLaMA-Factory dropped it too); "
        "to train past the model's context length, use rope_scaling"
    ),
    "mixture_of_depths": Unsupported(
        "mixture-of-depths needs the MoD package, which does not work with current transformers (LLaMA-Factory dropped it too)"
    ),
    "use_unsloth_gc": Unsupported("Unsloth's offloaded gradient checkpointing is not built: use gradient_checkpointing"),
    "moe_aux_loss_coef": Unsupported("the router loss weight of mixture-of-experts models is not configurable: the model's own is used"),
    "disable_gradient_checkpointing": Ignored(
        "gradient checkpointing is off here unless `gradient_checkpointing: true` (LLaMA-Factory turns it on by default)"
    ),
    "use_reentrant_gc": Ignored("gradient checkpointing here is always the non-reentrant kind"),
    "upcast_layernorm": Unsupported("upcasting layer norms to float32 is not built: train in float32, or with bf16 mixed precision"),
    "upcast_lmhead_output": Unsupported("upcasting the output head's logits to float32 is not built"),
    "train_from_scratch": Unsupported("training from randomly initialised weights is not built: start from a model folder"),
    "use_kv_cache": Unsupported("generation always uses the KV cache", harmless=(True,)),
    "use_v1_kernels": Unsupported("LLaMA-Factory's v1 kernel plugins are not part of LlamaBoard: enable_liger_kernel gives fused kernels"),
    "infer_dtype": Unsupported("chat, predict and the API load the weights in the dtype they were saved in", harmless=("auto",)),
    "hf_hub_token": Unsupported("a token in a config would be copied into run.yaml: set the HF_TOKEN environment variable instead"),
    "ms_hub_token": Unsupported("the ModelScope hub is not supported: download the model and pass its folder"),
    "om_hub_token": Unsupported("the Modelers hub is not supported: download the model and pass its folder"),
    "quantization_device_map": Unsupported("a quantized model always sits on one GPU here (one per process)"),
    # multimodal models
    **dict.fromkeys(
        (
            "image_max_pixels",
            "image_min_pixels",
            "image_do_pan_and_scan",
            "crop_to_patches",
            "video_max_pixels",
            "video_min_pixels",
            "video_fps",
            "video_maxlen",
            "use_audio_in_video",
            "audio_sampling_rate",
            "freeze_vision_tower",
            "freeze_multi_modal_projector",
            "freeze_language_model",
        ),
        Ignored(TEXT_ONLY),
    ),
    # other backends
    "use_kt": Unsupported(KTRANSFORMERS),
    **dict.fromkeys(
        (
            "kt_weight_path",
            "kt_expert_checkpoint_path",
            "kt_use_lora_experts",
            "kt_lora_expert_num",
            "kt_lora_expert_intermediate_size",
        ),
        Unsupported(KTRANSFORMERS),
    ),
    "vllm_maxlen": Unsupported(VLLM, harmless=(4096,)),
    "vllm_gpu_util": Unsupported(VLLM, harmless=(0.7,)),
    "vllm_enforce_eager": Unsupported(VLLM),
    "vllm_max_lora_rank": Unsupported(VLLM, harmless=(32,)),
    "vllm_config": Unsupported(VLLM),
    "sglang_maxlen": Unsupported(SGLANG, harmless=(4096,)),
    "sglang_mem_fraction": Unsupported(SGLANG, harmless=(0.7,)),
    "sglang_tp_size": Unsupported(SGLANG, harmless=(-1,)),
    "sglang_config": Unsupported(SGLANG),
    "sglang_lora_backend": Unsupported(SGLANG, harmless=("triton",)),
    "use_mca": Unsupported("Megatron-Core training (MCA) is not supported: use nproc_per_node (DDP), DeepSpeed or FSDP"),
    "use_hyper_parallel": Unsupported(HYPER_PARALLEL),
    "hyper_parallel_args": Unsupported(HYPER_PARALLEL),
    # data
    "neat_packing": TurnsOn(
        "packing", "packing here never lets the packed examples attend to each other, which is what neat_packing adds in LLaMA-Factory"
    ),
    # training extras
    "group_by_length": TurnsOn(
        "train_sampling_strategy",
        "transformers 5 replaced group_by_length with train_sampling_strategy (batches of similar lengths pad less)",
        value="group_by_length",
    ),
    "ld_alpha": Unsupported("LD-DPO's weighting of verbose tokens is not built into the dpo stage"),
    "use_dft_loss": Unsupported(SFT_LOSSES),
    "use_asft_loss": Unsupported(SFT_LOSSES),
    "asft_alpha": Unsupported(SFT_LOSSES, harmless=(0.1,)),
    "use_eaft_loss": Unsupported(SFT_LOSSES),
    "eaft_alpha": Unsupported(SFT_LOSSES, harmless=(1.0,)),
    "compute_accuracy": Unsupported("token accuracy at evaluation is not built: evaluation reports loss and perplexity"),
    "disable_shuffling": TurnsOn(
        "train_sampling_strategy", "transformers 5 reads the training data in order with train_sampling_strategy", value="sequential"
    ),
    "include_effective_tokens_per_second": Ignored("trainer_log.jsonl always records the throughput in tokens per second"),
    "use_swanlab": Unsupported(SWANLAB),
    "swanlab_project": Unsupported(SWANLAB, harmless=(None, "llamafactory")),
    "swanlab_workspace": Unsupported(SWANLAB),
    "swanlab_run_name": Unsupported(SWANLAB),
    "swanlab_mode": Unsupported(SWANLAB, harmless=(None, "cloud")),
    "swanlab_api_key": Unsupported(SWANLAB),
    "swanlab_logdir": Unsupported(SWANLAB),
    "swanlab_lark_webhook_url": Unsupported(SWANLAB),
    "swanlab_lark_secret": Unsupported(SWANLAB),
}


def resolve_legacy_keys(values: dict[str, Any], known: set[str], source: str) -> dict[str, Any]:
    """``values`` with renamed keys under their new names and accepted legacy keys dropped.

    Raises ConfigError for a key whose value asks for a feature this version does not have.
    Keys in ``known`` (the schema's) are left alone.
    """
    resolved = {key: value for key, value in values.items() if key in known or key not in LEGACY_KEYS}
    for key, value in values.items():
        entry = LEGACY_KEYS.get(key)
        if key in known or entry is None:
            continue
        if isinstance(entry, Renamed):
            if entry.key in values and values[entry.key] != value:
                raise ConfigError(
                    f"`{key}: {_as_yaml(value)}` and `{entry.key}: {_as_yaml(values[entry.key])}` in {source} are one setting "
                    f"({entry.note}): keep only `{entry.key}`."
                )
            resolved.setdefault(entry.key, value)
            logger.warning("`%s` in %s is read as `%s`: %s.", key, source, entry.key, entry.note)
        elif isinstance(entry, Ignored) or (isinstance(entry, TurnsOn) and not value):
            logger.info("`%s` in %s is ignored: %s.", key, source, entry.note)
        elif isinstance(entry, TurnsOn):
            wanted = f"{entry.key}: {_as_yaml(entry.value)}"
            if values.get(entry.key) not in (None, entry.value):
                raise ConfigError(
                    f"`{key}: true` in {source} asks for `{wanted}` ({entry.note}), but `{entry.key}: "
                    f"{_as_yaml(values[entry.key])}` is set: keep only `{entry.key}`."
                )
            resolved[entry.key] = entry.value
            logger.info("`%s: true` in %s is read as `%s`: %s.", key, source, wanted, entry.note)
        elif value not in entry.harmless:
            raise ConfigError(
                f"`{key}: {_as_yaml(value)}` in {source} is not supported in this version, because {entry.reason}. Remove it."
            )
    return resolved


def _as_yaml(value: Any) -> str:
    """The value as it is written in a YAML file (true, not True)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
