"""Stages pt and sft: next-token loss on tokenised features.

Pre-training and supervised fine-tuning share one recipe; they differ only in
how examples become features (every token is a label for pt, only answers for
sft), which `workflows.features` decides from `stage`. Read top to bottom:
tokenizer and template -> features -> model -> trainer -> train -> save.
"""

import logging

from transformers import PrinterCallback, set_seed

from workflows.config import RunConfig
from workflows.features.build import build_features, packing_enabled
from workflows.features.padding_free import choose_collator
from workflows.jobs import StopSignal
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model, load_model_config, load_tokenizer
from workflows.models.pissa import is_pissa_adapter, save_initial_adapter
from workflows.run_dir import RunDirectory
from workflows.templates import get_template
from workflows.train.callbacks import GracefulStopCallback, TrainerLogCallback
from workflows.train.limits import check_against_model
from workflows.train.trainer import (
    LlamaBoardTrainer,
    compute_dtype,
    extra_callbacks,
    record_results,
    train_watching_the_loss,
    training_arguments,
)

logger = logging.getLogger(__name__)


def run(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, show_progress: bool) -> str:
    """Train and save; returns the final state, `finished` or `aborted`."""
    set_seed(config.training.seed)  # before anything random is made (LoRA weights, dropout): same config, same losses
    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    features = build_features(config, tokenizer, template)
    run_dir.write_provenance(features.files, features.fingerprint)
    check_against_model(config, load_model_config(config.model), len(features.train))
    if stop.received:
        return "aborted"

    args = training_arguments(config, run_dir.path, show_progress)
    model = load_model(config.model, tokenizer, cutoff_len=config.data.cutoff_len, compute_dtype=compute_dtype(config))
    model = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=config.training.gradient_checkpointing)
    pissa_initial_adapter = save_initial_adapter(model, run_dir.path, run_dir.is_main_process) if is_pissa_adapter(model) else None

    trainer = LlamaBoardTrainer(
        model=model,
        args=args,
        train_dataset=features.train,
        eval_dataset=features.eval,
        data_collator=choose_collator(config, model, tokenizer.pad_token_id, packed=packing_enabled(config)),
        processing_class=tokenizer,
        callbacks=[
            TrainerLogCallback(run_dir),
            GracefulStopCallback(stop),
            *extra_callbacks(config),
        ],
        loraplus_lr_ratio=config.finetuning.loraplus_lr_ratio,
        pissa_initial_adapter=pissa_initial_adapter,
    )
    trainer.remove_callback(PrinterCallback)  # without a terminal it prints raw dicts; TrainerLogCallback logs readable lines
    result = train_watching_the_loss(trainer, config)
    if stop.received:
        return "aborted"

    trainer.save_model()
    record_results(trainer, result, config, run_dir, evaluate=features.eval is not None)
    return "finished"
