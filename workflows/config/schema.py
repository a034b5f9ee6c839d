"""The one config schema: every key a run accepts, with its type, default and help.

Key names are LLaMA-Factory's (and Hugging Face ``TrainingArguments``' for the
training group), so their YAML files load unchanged. The YAML is flat; each
key belongs to exactly one group below. This module is the single source for
YAML loading, ``key=value`` overrides, ``--help``, validation messages and the
UI's controls: adding an option is one edit here.

It imports neither torch nor transformers, so the UI can validate forms cheaply.
"""

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from workflows.config.legacy_keys import LEGACY_KEYS
from workflows.config.training_arguments import TRAINING_ARGUMENTS_FIELDS
from workflows.stages import AVAILABLE_STAGES, STAGES, get_stage

BUILTIN_TINY_MODEL = "llamaboard-tiny"
ADAPTER_TYPES = ("lora", "oft")
"""finetuning_type values that train an adapter (saved apart from the base model) rather than the model's own weights."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class ModelArgs(_Group):
    """Which model, adapters and precision to load."""

    model_name_or_path: str = Field(
        BUILTIN_TINY_MODEL,
        description=f"Local model folder or hub id. `{BUILTIN_TINY_MODEL}` is the built-in tiny model (built offline on first use).",
    )
    adapter_name_or_path: Optional[str] = Field(
        None, description="One or more adapter folders, comma-separated; they are applied (and merged) in order."
    )
    cache_dir: Optional[str] = Field(None, description="Where downloaded models are cached.")
    trust_remote_code: bool = Field(False, description="Allow model code shipped with the checkpoint to run.")
    quantization_bit: Optional[Literal[4, 8]] = Field(
        None, description="Load the base model quantized to this many bits (QLoRA) with quantization_method; needs a CUDA GPU."
    )
    quantization_method: Literal["bnb", "hqq", "eetq"] = Field(
        "bnb",
        description="Library that quantizes the base model for quantization_bit: bnb (bitsandbytes) or eetq (8-bit only); "
        "hqq is refused (transformers 5.23 cannot run it).",
    )
    quantization_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type for bitsandbytes.")
    double_quantization: bool = Field(True, description="Quantize the 4-bit quantization constants too.")
    rope_scaling: Optional[Literal["linear", "dynamic", "yarn", "llama3"]] = Field(
        None, description="RoPE scaling to extend the context past the model's trained length (needs cutoff_len above it)."
    )
    flash_attn: Literal["auto", "sdpa", "fa2", "disabled"] = Field(
        "auto", description="Attention implementation: auto, sdpa, fa2 (FlashAttention-2) or disabled (eager)."
    )
    pure_bf16: bool = Field(
        False, description="Load the weights in bfloat16 and train them in bfloat16 too, without mixed precision (saves memory)."
    )
    enable_liger_kernel: bool = Field(
        False, description="Swap in Liger's fused Triton kernels (norms, RoPE, MLP, loss); needs liger-kernel and a CUDA GPU."
    )
    use_unsloth: bool = Field(
        False, description="Train LoRA on Unsloth's patched model (faster, less memory); needs unsloth and a CUDA GPU."
    )


class DataArgs(_Group):
    """Which data, how it is rendered and tokenised."""

    dataset: Optional[str] = Field(None, description="Training dataset names from dataset_info.json, comma-separated.")
    eval_dataset: Optional[str] = Field(None, description="Evaluation dataset names, comma-separated.")
    dataset_dir: str = Field("data", description="Folder holding dataset_info.json and the data files.")
    template: Optional[str] = Field(
        None,
        description="Chat template name (e.g. qwen, llama3), or `auto` for the tokenizer's own chat_template. "
        "Empty: auto when the tokenizer has one, else default.",
    )
    default_system: Optional[str] = Field(None, description="System prompt used when an example has none.")
    enable_thinking: bool = Field(True, description="Keep reasoning blocks for templates that have them (qwen3, deepseekr1).")
    cutoff_len: int = Field(2048, ge=8, description="Maximum tokens per example after tokenisation; longer ones are truncated.")
    max_samples: Optional[int] = Field(None, ge=1, description="Use at most this many examples from each dataset.")
    val_size: float = Field(0.0, ge=0, description="Held-out evaluation split: a fraction in [0, 1) or a number of examples.")
    train_on_prompt: bool = Field(False, description="Also compute the loss on the prompt tokens.")
    mask_history: bool = Field(False, description="Compute the loss on the last assistant turn only.")
    packing: Optional[bool] = Field(
        None, description="Pack several examples into one sequence without cross-attention (default: on for pt, off for sft)."
    )
    padding_free: Optional[bool] = Field(
        None,
        description="pt/sft without packing: concatenate each batch into one row without padding, examples kept apart "
        "(same loss as padded). Empty: where the model supports it, for each batch that costs less flattened than padded "
        "(always with FlashAttention).",
    )
    mix_strategy: Literal["concat", "interleave_under", "interleave_over"] = Field("concat", description="How several datasets are mixed.")
    interleave_probs: Optional[str] = Field(None, description="Sampling probabilities for interleaving, comma-separated.")
    overwrite_cache: bool = Field(False, description="Tokenise again even when a cached copy exists.")
    preprocessing_num_workers: Optional[int] = Field(None, ge=1, description="Processes used for tokenisation.")
    identity_name: str = Field("LlamaBoard Assistant", description="Fills {{name}} in identity-style datasets.")
    identity_author: str = Field("LlamaBoard", description="Fills {{author}} in identity-style datasets.")


class FinetuningArgs(_Group):
    """What is trained and how."""

    stage: Literal[AVAILABLE_STAGES] = Field(
        "sft", description="; ".join(f"{name}: {STAGES[name].summary}" for name in AVAILABLE_STAGES) + "."
    )
    finetuning_type: Literal["lora", "oft", "freeze", "full"] = Field(
        "lora", description="Train LoRA or OFT adapters, only some layers (freeze), or every weight (full)."
    )
    use_llama_pro: bool = Field(
        False,
        description="LLaMA Pro (freeze, lora, oft): train only the blocks `python -m workflows expand` added, "
        "freeze_trainable_layers of them, evenly spaced.",
    )
    freeze_trainable_layers: int = Field(
        2,
        description="Freeze: number of trainable layers; positive counts from the last layer, negative from the first "
        "(with use_llama_pro: the number of blocks expand added).",
    )
    freeze_trainable_modules: str = Field("all", description="Freeze: trainable module names inside those layers, comma-separated, or all.")
    freeze_extra_modules: Optional[str] = Field(
        None, description="Freeze: extra trainable modules outside the layers (e.g. embed_tokens,lm_head)."
    )
    lora_rank: int = Field(8, ge=1, description="LoRA: rank of the adapter matrices.")
    lora_alpha: Optional[int] = Field(None, ge=1, description="LoRA: scaling factor (default: 2 × lora_rank).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA: dropout on the adapter input.")
    lora_target: str = Field("all", description="LoRA: module names to adapt, comma-separated, or all linear layers.")
    additional_target: Optional[str] = Field(
        None, description="LoRA/OFT: modules trained in full and saved with the adapter (e.g. embed_tokens)."
    )
    use_rslora: bool = Field(False, description="LoRA: rank-stabilised scaling.")
    use_dora: bool = Field(False, description="LoRA: weight-decomposed LoRA (DoRA).")
    pissa_init: bool = Field(False, description="LoRA: initialise from the principal singular vectors (PiSSA).")
    pissa_iter: int = Field(16, description="LoRA: fast-SVD iterations for PiSSA; -1 for exact SVD.")
    pissa_convert: bool = Field(
        True,
        description="LoRA: save the PiSSA adapter as a plain LoRA adapter of the original weights (what chat and export load); "
        "always on in this version.",
    )
    loraplus_lr_ratio: Optional[float] = Field(None, gt=0, description="LoRA+: learning-rate ratio of the B matrices to A.")
    loraplus_lr_embedding: float = Field(1e-6, gt=0, description="LoRA+: learning rate of the LoRA matrices of embedding layers.")
    oft_rank: int = Field(0, ge=0, description="OFT: orthogonal blocks per adapted layer; 0 derives it from oft_block_size.")
    oft_block_size: int = Field(
        32, ge=1, description="OFT: size of each orthogonal block (per layer, the nearest size dividing its input); unused with oft_rank."
    )
    oft_target: str = Field("all", description="OFT: module names to adapt, comma-separated, or all linear layers.")
    module_dropout: float = Field(0.0, ge=0, lt=1, description="OFT: chance that a block's rotation is skipped in a training step.")
    create_new_adapter: bool = Field(
        False, description="LoRA/OFT: start a fresh adapter on top of the loaded ones instead of training the last."
    )
    use_galore: bool = Field(
        False, description="GaLore (full/freeze): keep optimizer state for low-rank projections of the gradients, saving memory."
    )
    galore_target: str = Field(
        "all", description="GaLore: linear layers to project, comma-separated name parts, or all (every linear layer but the output head)."
    )
    galore_rank: int = Field(16, ge=1, description="GaLore: rank of the gradient projection.")
    galore_update_interval: int = Field(200, ge=1, description="GaLore: steps between recomputing the projection (an SVD).")
    galore_scale: float = Field(2.0, gt=0, description="GaLore: factor on the projected-back update.")
    galore_proj_type: Literal["std", "reverse_std", "right", "left", "full"] = Field(
        "std", description="GaLore: which side of each weight the projection acts on."
    )
    galore_layerwise: bool = Field(
        False, description="GaLore: step each weight as soon as its gradient is ready (less memory; needs gradient_accumulation_steps 1)."
    )
    use_apollo: bool = Field(
        False, description="APOLLO (full/freeze): AdamW whose per-channel learning rates come from a low-rank auxiliary state."
    )
    apollo_target: str = Field(
        "all", description="APOLLO: linear layers to apply it to, comma-separated name parts, or all (every linear layer but the head)."
    )
    apollo_rank: int = Field(16, ge=1, description="APOLLO: rank of the auxiliary space (1 is APOLLO-Mini).")
    apollo_update_interval: int = Field(200, ge=1, description="APOLLO: steps between drawing a new projection.")
    apollo_scale: float = Field(32.0, gt=0, description="APOLLO: the scaled update is multiplied by the square root of this.")
    apollo_proj: Literal["svd", "random"] = Field("random", description="APOLLO: projection from a random matrix or from an SVD.")
    apollo_proj_type: Literal["std", "right", "left"] = Field("std", description="APOLLO: which side of each weight is projected.")
    apollo_scale_type: Literal["channel", "tensor"] = Field("channel", description="APOLLO: one scaling factor per channel or per tensor.")
    apollo_layerwise: bool = Field(
        False, description="APOLLO: step each weight as soon as its gradient is ready (less memory; needs gradient_accumulation_steps 1)."
    )
    apollo_scale_front: bool = Field(False, description="APOLLO: apply the scale before the norm-growth limiter instead of after it.")
    use_badam: bool = Field(
        False, description="BAdam (full/freeze): Adam on one block of the model at a time, the rest frozen, switching blocks as it goes."
    )
    badam_mode: Literal["layer", "ratio"] = Field(
        "layer", description="BAdam: layer (one decoder layer at a time) or ratio (a fraction of every weight at a time)."
    )
    badam_start_block: Optional[int] = Field(
        None, ge=0, description="BAdam layer: index of the first layer trained (default: first for ascending, last for descending)."
    )
    badam_switch_mode: Literal["ascending", "descending", "random", "fixed"] = Field(
        "ascending", description="BAdam layer: order in which layers take turns; fixed keeps the start block."
    )
    badam_switch_interval: int = Field(
        50, ge=-1, description="BAdam layer: optimizer steps before moving to the next layer; -1 never moves."
    )
    badam_update_ratio: float = Field(0.05, gt=0, le=1, description="BAdam ratio: fraction of each weight updated at a time.")
    badam_mask_mode: Literal["adjacent", "scatter"] = Field(
        "adjacent", description="BAdam ratio: the updated entries are one contiguous run (adjacent) or spread at random (scatter)."
    )
    badam_verbose: int = Field(0, ge=0, le=2, description="BAdam: 0 quiet, 1 print the active block, 2 also every trainable weight.")
    use_adam_mini: bool = Field(False, description="Adam-mini: AdamW with one second-moment value per block of weights (less memory).")
    use_muon: bool = Field(False, description="Muon: orthogonalised momentum for 2-D weights inside the layers, AdamW for the rest.")
    plot_loss: bool = Field(True, description="Save training_loss.png when training ends.")

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_is_built(cls, value):
        """A stage LLaMA-Factory knows but we have not built yet says so, rather than "must be one of"."""
        if isinstance(value, str) and value in STAGES:
            get_stage(value)
        return value


PREF_LOSSES = ("sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo")
REFERENCE_FREE_LOSSES = ("orpo", "simpo")


class RLHFArgs(_Group):
    """Alignment stages rm, dpo, kto and ppo (LLaMA-Factory's keys)."""

    pref_beta: float = Field(
        0.1, gt=0, description="dpo/kto: beta, how far the policy may move from the reference (ORPO: odds-ratio weight)."
    )
    pref_ftx: float = Field(0.0, ge=0, description="dpo/kto: weight of the SFT loss on the chosen answers mixed into the preference loss.")
    pref_loss: Literal[PREF_LOSSES] = Field(
        "sigmoid", description="dpo: the loss: sigmoid (DPO), hinge, ipo, kto_pair, orpo or simpo (the last two need no reference model)."
    )
    pref_bco_weight: float = Field(0.0, ge=0, description="dpo: weight of a BCO loss added to the DPO loss.")
    dpo_label_smoothing: float = Field(0.0, ge=0, le=0.5, description="dpo sigmoid: probability that a pair's labels are flipped.")
    simpo_gamma: float = Field(0.5, ge=0, description="dpo simpo: target reward margin.")
    ref_model: Optional[str] = Field(
        None,
        description="dpo/kto/ppo: reference model (default: the policy without its LoRA adapters, or a frozen copy).",
    )
    ref_model_adapters: Optional[str] = Field(None, description="Adapters merged into the reference model, comma-separated.")
    ref_model_quantization_bit: Optional[Literal[4, 8]] = Field(None, description="Load the reference model quantized (needs a CUDA GPU).")
    kto_chosen_weight: float = Field(1.0, gt=0, description="kto: weight of the desirable answers' loss.")
    kto_rejected_weight: float = Field(1.0, gt=0, description="kto: weight of the undesirable answers' loss.")
    reward_model: Optional[str] = Field(
        None, description="ppo: the reward model: an rm run folder (lora or full), or the URL of a reward API (reward_model_type: api)."
    )
    reward_model_adapters: Optional[str] = Field(None, description="ppo: adapters merged into the reward model, comma-separated.")
    reward_model_quantization_bit: Optional[Literal[4, 8]] = Field(None, description="ppo: load the reward model quantized (CUDA only).")
    reward_model_type: Literal["lora", "full", "api"] = Field(
        "lora", description="ppo: lora (an rm LoRA run on the same base model), full (a full rm run) or api (an HTTP scoring service)."
    )
    ppo_epochs: int = Field(4, ge=1, description="ppo: optimisation passes over each batch of rollouts.")
    ppo_buffer_size: int = Field(
        1, ge=1, description="ppo: optimizer steps per PPO epoch over each batch of rollouts (per_device_train_batch_size rollouts each)."
    )
    ppo_score_norm: bool = Field(False, description="ppo: normalise reward-model scores with their running mean and deviation.")
    ppo_whiten_rewards: bool = Field(
        False, description="ppo: whiten each batch's per-token rewards before computing advantages (advantages are always whitened)."
    )
    ppo_target: float = Field(6.0, gt=0, description="ppo: target KL for the adaptive KL penalty.")


class TrainingArgs(_Group):
    """Hugging Face TrainingArguments passed through, plus process settings."""

    output_dir: Optional[str] = Field(None, description="Run directory (default: saves/<model>/<finetuning_type>/train_<timestamp>).")
    overwrite_output_dir: bool = Field(False, description="Allow training into a run directory that already holds a finished run.")
    do_train: bool = Field(True, description="Run training.")
    do_eval: bool = Field(
        False, description="Without do_train: compute eval loss and perplexity on eval_dataset (`train` runs the `eval` job then)."
    )
    do_predict: bool = Field(
        False, description="Without do_train: generate for eval_dataset and score BLEU/ROUGE (`train` runs the `predict` job then)."
    )
    predict_with_generate: bool = Field(
        True, description="Predict by generating text (LLaMA-Factory's key); the only predict mode built, so false is refused."
    )
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate of AdamW.")
    num_train_epochs: float = Field(3.0, gt=0, description="Passes over the training data (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 to use num_train_epochs.")
    per_device_train_batch_size: int = Field(8, ge=1, description="Examples per device per step.")
    per_device_eval_batch_size: int = Field(8, ge=1, description="Examples per device per evaluation step.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches summed before each optimizer step.")
    lr_scheduler_type: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "reduce_lr_on_plateau",
        "cosine_with_min_lr",
        "warmup_stable_decay",
    ] = Field("linear", description="Learning-rate schedule.")
    warmup_steps: float = Field(0, ge=0, description="Linear warm-up steps (or a fraction of all steps when below 1).")
    warmup_ratio: Optional[float] = Field(
        None, ge=0, lt=1, description="Warm-up as a fraction of all steps (LLaMA-Factory's name; overrides warmup_steps)."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm; 0 disables clipping.")
    optim: str = Field("adamw_torch", description="Optimizer name as in transformers (adamw_torch, adamw_8bit, sgd, ...).")
    logging_steps: float = Field(10, gt=0, description="Write a trainer_log.jsonl line every this many steps.")
    save_strategy: Literal["no", "steps", "epoch"] = Field("steps", description="When checkpoints are saved.")
    save_steps: float = Field(500, gt=0, description="Save a checkpoint-N every this many steps.")
    save_total_limit: Optional[int] = Field(None, ge=1, description="Keep at most this many checkpoints.")
    save_only_model: bool = Field(False, description="Checkpoints without optimizer state (smaller, but cannot resume exactly).")
    eval_strategy: Literal["no", "steps", "epoch"] = Field("no", description="When the held-out loss is computed.")
    eval_steps: Optional[float] = Field(None, gt=0, description="Evaluate every this many steps (default: logging_steps).")
    load_best_model_at_end: bool = Field(False, description="Keep the checkpoint with the lowest eval loss at the end.")
    early_stopping_steps: Optional[int] = Field(None, ge=1, description="Stop when eval loss has not improved for this many evaluations.")
    bf16: bool = Field(False, description="Train in bfloat16 mixed precision.")
    fp16: bool = Field(False, description="Train in float16 mixed precision (CUDA only).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass to save memory.")
    neftune_noise_alpha: Optional[float] = Field(None, gt=0, description="NEFTune: noise added to embeddings during training.")
    seed: int = Field(42, description="Random seed for initialisation, shuffling and dropout.")
    report_to: Union[str, list[str]] = Field("none", description="Experiment trackers (none, tensorboard, wandb, ...).")
    resume_from_checkpoint: Optional[Union[bool, str]] = Field(
        None, description="Continue from a checkpoint folder, or true for the last checkpoint in output_dir."
    )
    dataloader_num_workers: int = Field(0, ge=0, description="Worker processes that feed batches.")
    ddp_timeout: int = Field(1800, ge=1, description="Seconds before a distributed operation times out.")
    deepspeed: Optional[str] = Field(
        None, description="Path to a DeepSpeed config JSON such as examples/deepspeed/ds_z3_config.json (needs deepspeed and GPUs)."
    )
    nproc_per_node: int = Field(
        1, ge=1, description="Processes per machine, one per GPU; above 1 (or with deepspeed, fsdp or NNODES) the job runs under torchrun."
    )


class GenerationArgs(_Group):
    """Sampling settings for chat, the API server and predict."""

    do_sample: bool = Field(True, description="Sample instead of greedy decoding.")
    temperature: float = Field(0.95, ge=0, description="Sampling temperature.")
    top_p: float = Field(0.7, gt=0, le=1, description="Nucleus sampling probability mass.")
    top_k: int = Field(50, ge=0, description="Sample only among the k most likely tokens.")
    max_new_tokens: int = Field(1024, ge=1, description="Maximum tokens generated per answer.")
    repetition_penalty: float = Field(1.0, gt=0, description="Penalty for repeating tokens (1.0 = none).")
    infer_backend: Literal["huggingface", "vllm", "sglang"] = Field(
        "huggingface", description="Inference engine: huggingface (any device), or vllm / sglang (need a GPU and the package installed)."
    )


class EvaluationArgs(_Group):
    """Multiple-choice benchmarks (`python -m workflows eval`), LLaMA-Factory's evaluation keys."""

    task: Optional[str] = Field(
        None, description="Benchmark and split, e.g. mmlu_test, ceval_validation, cmmlu_test: a folder of task_dir and its split."
    )
    task_dir: str = Field("evaluation", description="Folder holding the benchmark folders (each with mapping.json and dev/val/test CSVs).")
    lang: Optional[Literal["en", "zh"]] = Field(
        None, description="Language of the prompt wording (en or zh); empty: zh for ceval and cmmlu, en otherwise."
    )
    n_shot: int = Field(5, ge=0, description="Solved examples from the dev split shown before each question.")
    save_dir: Optional[str] = Field(None, description="Folder for the results (the eval job's run directory; same as output_dir).")
    batch_size: int = Field(4, ge=1, description="Questions scored per forward pass.")


class ExportArgs(_Group):
    """Merge adapters into a standalone model and convert it (`python -m workflows export`), LLaMA-Factory's export keys."""

    export_dir: Optional[str] = Field(
        None, description="Folder to write the exported model to; must not exist or be empty (default: <run directory>/model)."
    )
    export_size: Union[int, float] = Field(
        5, gt=0, description="Largest safetensors shard in GB (10^9 bytes); a fraction such as 0.5 is accepted."
    )
    export_device: Literal["cpu", "auto"] = Field("cpu", description="Where adapters are merged: cpu, or auto (the GPU when there is one).")
    export_legacy_format: bool = Field(False, description="Write pytorch_model*.bin files instead of safetensors.")
    export_quantization_bit: Optional[Literal[2, 3, 4, 8]] = Field(
        None, description="Quantize the exported model with GPTQ to this many bits (needs a CUDA GPU and the gptqmodel package)."
    )
    export_quantization_dataset: Optional[str] = Field(
        None, description='GPTQ calibration data: a .json/.jsonl file of {"text": ...} records or a .txt file, one sample a line.'
    )
    export_quantization_nsamples: int = Field(128, ge=1, description="GPTQ: calibration samples used.")
    export_quantization_maxlen: int = Field(1024, ge=8, description="GPTQ: tokens per calibration sample at most.")
    export_hub_model_id: Optional[str] = Field(
        None, description="Also upload the export to this Hugging Face Hub repo (user/name) once the local export is complete."
    )
    export_gguf: Optional[Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"]] = Field(
        None,
        description="Also write a GGUF file of this type for llama.cpp and Ollama (with a Modelfile); Llama, Mistral and Qwen2 models.",
    )


GROUPS: dict[str, type[_Group]] = {
    "model": ModelArgs,
    "data": DataArgs,
    "finetuning": FinetuningArgs,
    "training": TrainingArgs,
    "generation": GenerationArgs,
    "evaluation": EvaluationArgs,
    "export": ExportArgs,
    "rlhf": RLHFArgs,
}


def _pass_through_group() -> type[_Group]:
    """Every TrainingArguments field no group above defines, accepted as-is and handed to transformers unchanged.

    Values are not typed here (transformers checks them when the job starts,
    with its own message); None means "not given", so transformers' default applies.
    """
    defined = {key for group in GROUPS.values() for key in group.model_fields} | set(LEGACY_KEYS)  # use_liger_kernel is renamed
    fields = {
        name: (Any, Field(None, description=f"Hugging Face TrainingArguments.{name}, passed through unchanged."))
        for name in TRAINING_ARGUMENTS_FIELDS
        if name not in defined
    }
    return create_model("PassThroughArgs", __base__=_Group, __doc__="Further Hugging Face TrainingArguments fields.", **fields)


PassThroughArgs = _pass_through_group()
GROUPS["passthrough"] = PassThroughArgs
