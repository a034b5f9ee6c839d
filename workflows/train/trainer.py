"""Shared training machinery: TrainingArguments from the config, the Trainer, saving and plots."""

import logging
from pathlib import Path

from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

from workflows.config import RunConfig
from workflows.errors import ConfigError

logger = logging.getLogger(__name__)


def compute_dtype(config: RunConfig):
    import torch

    if config.training.bf16:
        return torch.bfloat16
    if config.training.fp16:
        return torch.float16
    return None


def training_arguments(config: RunConfig, output_dir: Path, show_progress: bool) -> TrainingArguments:
    """Hugging Face TrainingArguments from the training group (same key names)."""
    import torch

    train = config.training
    has_eval = train.eval_strategy != "no"
    try:
        return TrainingArguments(
            output_dir=str(output_dir),
            learning_rate=train.learning_rate,
            num_train_epochs=train.num_train_epochs,
            max_steps=train.max_steps,
            per_device_train_batch_size=train.per_device_train_batch_size,
            per_device_eval_batch_size=train.per_device_eval_batch_size,
            gradient_accumulation_steps=train.gradient_accumulation_steps,
            lr_scheduler_type=train.lr_scheduler_type,
            warmup_steps=train.warmup_ratio if train.warmup_ratio is not None else train.warmup_steps,
            weight_decay=train.weight_decay,
            max_grad_norm=train.max_grad_norm,
            optim=train.optim,
            logging_steps=train.logging_steps,
            logging_first_step=True,
            save_strategy=train.save_strategy,
            save_steps=train.save_steps,
            save_total_limit=train.save_total_limit,
            save_only_model=train.save_only_model,
            eval_strategy=train.eval_strategy,
            eval_steps=train.eval_steps,
            load_best_model_at_end=train.load_best_model_at_end,
            metric_for_best_model="eval_loss" if (train.load_best_model_at_end or train.early_stopping_steps) else None,
            bf16=train.bf16,
            fp16=train.fp16,
            neftune_noise_alpha=train.neftune_noise_alpha,
            seed=train.seed,
            report_to=train.report_to,
            dataloader_num_workers=train.dataloader_num_workers,
            ddp_timeout=train.ddp_timeout,
            deepspeed=train.deepspeed,
            use_cpu=not torch.cuda.is_available(),
            remove_unused_columns=False,
            include_num_input_tokens_seen="non_padding",
            disable_tqdm=not show_progress,
            prediction_loss_only=has_eval,
        )
    except (ValueError, ImportError) as error:
        raise ConfigError(f"The training settings were rejected by transformers: {error}") from None


class LlamaBoardTrainer(Trainer):
    """Trainer that can build a LoRA+ optimizer (a higher learning rate for the B matrices)."""

    def __init__(self, *args, loraplus_lr_ratio: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loraplus_lr_ratio = loraplus_lr_ratio

    def create_optimizer(self, model=None):
        if self.optimizer is None and self.loraplus_lr_ratio:
            from peft.optimizers import create_loraplus_optimizer

            optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = create_loraplus_optimizer(
                self.model, optimizer_cls, loraplus_lr_ratio=self.loraplus_lr_ratio, **optimizer_kwargs
            )
        return super().create_optimizer()


def extra_callbacks(config: RunConfig) -> list:
    if config.training.early_stopping_steps:
        return [EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_steps)]
    return []
