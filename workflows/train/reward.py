"""Stage rm: a reward model, the causal LM with a one-output score head (AutoModelForSequenceClassification).

Trained on chosen/rejected pairs with the pairwise loss -log σ(r_chosen − r_rejected);
``accuracy`` (how often r_chosen > r_rejected) is logged for training and eval.
The run directory then holds what stage ppo's ``reward_model`` loads: a LoRA
adapter whose config says SEQ_CLS (it carries the trained score head), or, for
full/freeze, the whole scoring model. Such a run cannot chat (the model loader
refuses it with that reason).
"""

import torch.nn.functional as F

from workflows.config import RunConfig
from workflows.jobs import StopSignal
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model
from workflows.run_dir import RunDirectory
from workflows.train.alignment import StageMetricsMixin, callbacks, prepare, train_and_save
from workflows.train.preference import PairCollator
from workflows.train.trainer import LlamaBoardTrainer, compute_dtype, training_arguments


def scores(model, input_ids, attention_mask):
    """The score of each sequence, read at its last real token (right padding)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits  # (batch, 1), at the last non-pad token
    return logits.squeeze(-1).float()


class RewardTrainer(StageMetricsMixin, LlamaBoardTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_stage_metrics()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected = scores(model, inputs["input_ids"], inputs["attention_mask"]).chunk(2)
        loss = -F.logsigmoid(chosen - rejected).mean()
        self.record(accuracy=(chosen > rejected).float().mean(), **{"rewards/chosen": chosen.mean(), "rewards/rejected": rejected.mean()})
        return loss


def run(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, show_progress: bool) -> str:
    from transformers import AutoModelForSequenceClassification

    tokenizer, features = prepare(config, run_dir)
    if stop.received:
        return "aborted"
    args = training_arguments(config, run_dir.path, show_progress)
    model = load_model(
        config.model,
        tokenizer,
        cutoff_len=config.data.cutoff_len,
        compute_dtype=compute_dtype(config),
        model_class=AutoModelForSequenceClassification,
    )
    model.config.pad_token_id = tokenizer.pad_token_id  # the score is read at the last token that is not padding
    model = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=config.training.gradient_checkpointing)
    if config.finetuning.finetuning_type != "lora":
        head = model.score if hasattr(model, "score") else model.get_output_embeddings()
        head.requires_grad_(True)  # freeze: the new head must learn whatever layers train
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=features.train,
        eval_dataset=features.eval,
        data_collator=PairCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks(config, run_dir, stop),
        loraplus_lr_ratio=config.finetuning.loraplus_lr_ratio,
    )
    return train_and_save(config, run_dir, stop, trainer, features, tokenizer)
