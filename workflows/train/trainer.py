"""Shared training machinery: TrainingArguments from the config, the Trainer, saving and plots."""

import dataclasses
import logging
from pathlib import Path
from typing import Optional

from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from workflows.config import RunConfig
from workflows.config.schema import ADAPTER_TYPES, FinetuningArgs
from workflows.errors import ConfigError
from workflows.models.pissa import is_unconverted, load_trained_form, save_converted
from workflows.startup import collect_start_up_garbage, resume_collection
from workflows.train.optimizers import create_method_optimizer, prepare_trainer

logger = logging.getLogger(__name__)


def compute_dtype(config: RunConfig):
    import torch

    if config.training.bf16:
        return torch.bfloat16
    if config.training.fp16:
        return torch.float16
    return None


# Keys of the training group that are ours, or that LlamaBoard applies itself rather than passing through.
NOT_PASSED_THROUGH = {"output_dir", "resume_from_checkpoint", "gradient_checkpointing", "warmup_ratio", "warmup_steps"}
# Settings our data pipeline depends on: a pass-through value cannot change them.
FIXED = {"remove_unused_columns": False}


@dataclasses.dataclass
class LlamaBoardTrainingArguments(TrainingArguments):
    """TrainingArguments that also carry the run's finetuning group, which LlamaBoardTrainer builds its optimizer from."""

    finetuning: dict = dataclasses.field(default_factory=dict, metadata={"help": "The run's finetuning keys (workflows.config)."})


def training_arguments(config: RunConfig, output_dir: Path, show_progress: bool) -> LlamaBoardTrainingArguments:
    """Hugging Face TrainingArguments: every training key TrainingArguments knows, and every pass-through field given."""
    import torch

    train = config.training
    known = {field.name for field in dataclasses.fields(TrainingArguments)}
    passed = {key: value for key, value in train.model_dump().items() if key in known and key not in NOT_PASSED_THROUGH}
    our_defaults = {
        "logging_first_step": True,
        "logging_nan_inf_filter": False,  # a NaN loss must show as NaN (and stop the run), not be averaged away into 0
        "metric_for_best_model": "eval_loss" if (train.load_best_model_at_end or train.early_stopping_steps) else None,
        "use_cpu": not torch.cuda.is_available(),
        "include_num_input_tokens_seen": "non_padding",
        "disable_tqdm": not show_progress,
        "prediction_loss_only": train.eval_strategy != "no",
        # an adapter's weights all get a gradient every step, so DDP need not search the graph for unused ones (transformers'
        # default costs a traversal per step and a warning on every rank); full/freeze keep it: an MoE leaves experts unused
        "ddp_find_unused_parameters": False if config.finetuning.finetuning_type in ADAPTER_TYPES else None,
    }
    given = config.passthrough.model_dump(exclude_none=True)
    try:
        return LlamaBoardTrainingArguments(
            **passed,
            **{**our_defaults, **given, **FIXED},
            output_dir=str(output_dir),
            warmup_steps=train.warmup_ratio if train.warmup_ratio is not None else train.warmup_steps,
            finetuning=config.finetuning.model_dump(),
        )
    except (ValueError, ImportError, TypeError) as error:
        raise ConfigError(f"The training settings were rejected by transformers: {error}") from None


class LlamaBoardTrainer(Trainer):
    """Trainer that builds the optimizer a method asks for: LoRA+ (a higher learning rate for the B matrices),
    or GaLore, APOLLO, BAdam, Adam-mini or Muon (workflows.train.optimizers, chosen by the finetuning keys).

    With ``pissa_initial_adapter`` (the run's pissa_init/ folder) it saves every adapter, checkpoints included,
    converted to plain LoRA of the original weights, and reads the PiSSA form back out of one to resume
    (workflows.models.pissa)."""

    def __init__(self, *args, loraplus_lr_ratio: float | None = None, pissa_initial_adapter: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loraplus_lr_ratio = loraplus_lr_ratio
        self.pissa_initial_adapter = pissa_initial_adapter
        self.finetuning = FinetuningArgs(**getattr(self.args, "finetuning", {}))
        prepare_trainer(self, self.finetuning)
        logger.info("Training on %s", describe_hardware(self.args, self.model))
        resume_collection()  # start-up is over (workflows.startup)
        self.add_callback(CollectStartUpGarbage())

    def create_optimizer(self, model=None):
        if self.optimizer is None and self.loraplus_lr_ratio:
            from peft.optimizers import create_loraplus_optimizer

            optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = create_loraplus_optimizer(
                self.model,
                optimizer_cls,
                loraplus_lr_ratio=self.loraplus_lr_ratio,
                loraplus_lr_embedding=self.finetuning.loraplus_lr_embedding,
                **optimizer_kwargs,
            )
        if self.optimizer is None:
            self.optimizer = create_method_optimizer(self.model, self.args, self.finetuning, self.get_decay_parameter_names(self.model))
        return super().create_optimizer()

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)
        if self.pissa_initial_adapter is not None and self.args.should_save:
            save_converted(self.model, output_dir or self.args.output_dir, self.pissa_initial_adapter)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        if self._holds_converted_pissa(resume_from_checkpoint):
            load_trained_form(self.model, resume_from_checkpoint)
        else:
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _load_best_model(self) -> None:
        if self._holds_converted_pissa(self.state.best_model_checkpoint):
            load_trained_form(self.model, self.state.best_model_checkpoint)
        else:
            super()._load_best_model()

    def _holds_converted_pissa(self, checkpoint) -> bool:
        """A checkpoint of this PiSSA run saved converted (an older version's, in PiSSA form, loads as it is)."""
        return self.pissa_initial_adapter is not None and not is_unconverted(checkpoint)


def describe_hardware(args: TrainingArguments, model) -> str:
    """Where and in which precision the run computes, e.g. "cuda:0 (NVIDIA H200), 1 process, bf16 mixed precision (weights
    float32)": the line that tells a user on a GPU box that the GPU, and the precision they meant, are in use."""
    import torch

    device = args.device
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    processes = f"{args.world_size} process" + ("es" if args.world_size > 1 else "")
    precision = "bf16 mixed precision" if args.bf16 else "fp16 mixed precision" if args.fp16 else "no mixed precision"
    weights = sorted({str(parameter.dtype).removeprefix("torch.") for parameter in model.parameters() if parameter.requires_grad})
    return f"{device}{name}, {processes}, {precision} (trainable weights {', '.join(weights) or 'none'})"


class CollectStartUpGarbage(TrainerCallback):
    """Frees the imports' garbage once the first step is logged (``collect_start_up_garbage``): added last, so the
    first log line is written before."""

    def on_log(self, args, state, control, **kwargs):
        collect_start_up_garbage()


def extra_callbacks(config: RunConfig) -> list:
    if config.training.early_stopping_steps:
        return [EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_steps)]
    return []


def record_results(trainer: Trainer, result, config: RunConfig, run_dir, evaluate: bool) -> None:
    """What every recipe leaves after training: train (and eval) metrics files, trainer_state.json, training_loss.png."""
    from workflows.train.loss_curve import plot_loss

    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    if evaluate:
        metrics = _evaluated_at_the_last_step(trainer) or trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    trainer.save_state()
    if config.finetuning.plot_loss and run_dir.is_main_process:
        plot_loss(trainer.state.log_history, run_dir.path / "training_loss.png")


def _evaluated_at_the_last_step(trainer: Trainer) -> Optional[dict]:
    """The eval metrics the schedule logged at the final step, when the weights are still those (no second pass, no second row)."""
    if trainer.args.load_best_model_at_end:  # the best checkpoint was loaded back: it is evaluated again
        return None
    last_eval = next((entry for entry in reversed(trainer.state.log_history) if "eval_loss" in entry), None)
    if last_eval is None or last_eval.get("step") != trainer.state.global_step:
        return None
    return {key: value for key, value in last_eval.items() if key.startswith("eval_") or key == "epoch"}


def train_watching_the_loss(trainer: Trainer, config: RunConfig):
    """``trainer.train`` (resuming when asked); a loss that became NaN fails the run (TrainerLogCallback stopped it)."""
    from workflows.errors import TrainingDiverged
    from workflows.train.callbacks import TrainerLogCallback

    result = trainer.train(resume_from_checkpoint=config.training.resume_from_checkpoint or None)
    log_callback = next(callback for callback in trainer.callback_handler.callbacks if isinstance(callback, TrainerLogCallback))
    if log_callback.diverged_at is not None:
        raise TrainingDiverged(
            f"The loss became NaN at step {log_callback.diverged_at}; the run was stopped and nothing was saved after it. "
            f"Lower `learning_rate` (now {config.training.learning_rate:g}) or turn on gradient clipping (`max_grad_norm`)."
        )
    return result
