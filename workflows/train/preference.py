"""Stages dpo (pref_loss sigmoid, hinge, ipo, kto_pair, orpo, simpo) and kto, on our own Trainer subclass.

Why not trl's DPOTrainer/KTOTrainer: trl 1.16's DPOTrainer tokenises with the
tokenizer's chat template and knows neither orpo, simpo nor kto_pair (ORPO and
CPO/SimPO live in ``trl.experimental`` with their own data pipelines), so three
trainers would render the same pair three ways. Here every loss reads the pairs
our templates render (labels masked but the answer) and is a formula in
``pref_losses`` (tested against hand computations). The reference model
follows trl: the policy with its LoRA adapters disabled, a frozen copy for
full/freeze, or ``ref_model``.
"""

import logging

import torch

from workflows.config import RunConfig
from workflows.config.schema import REFERENCE_FREE_LOSSES
from workflows.features.collator import PaddingCollator
from workflows.jobs import StopSignal
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model
from workflows.run_dir import RunDirectory
from workflows.train import pref_losses
from workflows.train.alignment import (
    StageMetricsMixin,
    callbacks,
    check_same_tokenizer,
    load_reference,
    prepare,
    sequence_logps,
    train_and_save,
)
from workflows.train.trainer import LlamaBoardTrainer, compute_dtype, training_arguments

logger = logging.getLogger(__name__)


class PairCollator:
    """A batch of pairs as one batch of 2B rows: the chosen answers first, then the rejected ones."""

    def __init__(self, pad_token_id: int):
        self.pad = PaddingCollator(pad_token_id=pad_token_id)

    def __call__(self, features: list[dict]) -> dict:
        rows = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features]
        rows += [{"input_ids": f["rejected_input_ids"], "labels": f["rejected_labels"]} for f in features]
        return self.pad(rows)


class KTOCollator:
    """Labelled answers, and their KL rows (``kl_input_ids``, ``kl_attention_mask``, ``kl_labels``) padded apart."""

    def __init__(self, pad_token_id: int):
        self.pad = PaddingCollator(pad_token_id=pad_token_id)

    def __call__(self, features: list[dict]) -> dict:
        batch = self.pad([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        kl_rows = self.pad([{"input_ids": f["kl_input_ids"], "labels": f["kl_labels"]} for f in features])
        batch.update({f"kl_{key}": value for key, value in kl_rows.items()})
        batch["kto_tag"] = torch.tensor([int(f["kto_tag"]) for f in features], dtype=torch.long)
        return batch


class PreferenceTrainer(StageMetricsMixin, LlamaBoardTrainer):
    """compute_loss for dpo (pairs) and kto (labelled answers); rewards and margins go to trainer_log.jsonl."""

    def __init__(self, *args, config: RunConfig, ref_model=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_stage_metrics()
        self.stage = config.finetuning.stage
        self.rlhf = config.rlhf
        self.ref_model = ref_model
        if ref_model is not None:
            self.ref_model = ref_model.to(self.args.device)

    def reference_logps(self, input_ids, attention_mask, labels):
        with torch.no_grad():
            if self.ref_model is not None:
                return sequence_logps(self.ref_model, input_ids, attention_mask, labels)[0]
            model = self.accelerator.unwrap_model(self.model)
            with model.disable_adapter():  # LoRA without ref_model: the base model is the reference
                return sequence_logps(model, input_ids, attention_mask, labels)[0]

    def mean_over_ranks(self, values):
        """The mean of every rank's mean (each rank's batch has the same size under torchrun); one process: the mean."""
        return self.accelerator.gather(values.mean().reshape(1)).mean()

    def kto_loss(self, model, inputs, logps, counts):
        rlhf = self.rlhf
        tags = inputs["kto_tag"].bool()
        reference = self.reference_logps(inputs["input_ids"], inputs["attention_mask"], inputs["labels"])
        kl_rows = inputs["kl_input_ids"], inputs["kl_attention_mask"], inputs["kl_labels"]
        with torch.no_grad():
            policy_kl_logps = sequence_logps(self.accelerator.unwrap_model(model), *kl_rows)[0]
        kl = pref_losses.kl_divergence(policy_kl_logps, self.reference_logps(*kl_rows), batch_mean=self.mean_over_ranks)
        losses, rewards = pref_losses.kto_loss(logps, reference, tags, rlhf.pref_beta, rlhf.kto_chosen_weight, rlhf.kto_rejected_weight, kl)
        loss = losses.mean()
        if rlhf.pref_ftx > 0 and tags.any():
            loss = loss + rlhf.pref_ftx * (-logps / counts.clamp(min=1))[tags].mean()
        chosen, rejected = rewards[tags], rewards[~tags]
        if len(chosen):
            self.record(**{"rewards/chosen": chosen.mean()})
        if len(rejected):
            self.record(**{"rewards/rejected": rejected.mean()})
        if len(chosen) and len(rejected):
            self.record(**{"rewards/margins": chosen.mean() - rejected.mean()})
        self.record(kl=kl)
        return loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        input_ids, attention_mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        logps, counts = sequence_logps(model, input_ids, attention_mask, labels)
        rlhf = self.rlhf
        if self.stage == "kto":
            return self.kto_loss(model, inputs, logps, counts)
        reference = None if rlhf.pref_loss in REFERENCE_FREE_LOSSES else self.reference_logps(input_ids, attention_mask, labels)
        losses, chosen_rewards, rejected_rewards = pref_losses.pair_losses(rlhf, logps, counts, reference)
        self.record(
            **{
                "rewards/chosen": chosen_rewards.mean(),
                "rewards/rejected": rejected_rewards.mean(),
                "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
                "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            }
        )
        return losses.mean()


def run(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, show_progress: bool) -> str:
    """Train dpo or kto and save like sft; returns `finished` or `aborted`."""

    def check(tokenizer):
        if config.rlhf.ref_model:
            check_same_tokenizer(config, tokenizer, config.rlhf.ref_model, "ref_model")

    tokenizer, features = prepare(config, run_dir, check)
    if stop.received:
        return "aborted"
    args = training_arguments(config, run_dir.path, show_progress)
    model = load_model(config.model, tokenizer, cutoff_len=config.data.cutoff_len, compute_dtype=compute_dtype(config))
    needs_reference = config.finetuning.stage == "kto" or config.rlhf.pref_loss not in REFERENCE_FREE_LOSSES
    reference = load_reference(config, tokenizer, model) if needs_reference else None
    model = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=config.training.gradient_checkpointing)
    collator = KTOCollator if config.finetuning.stage == "kto" else PairCollator
    trainer = PreferenceTrainer(
        model=model,
        args=args,
        config=config,
        ref_model=reference,
        train_dataset=features.train,
        eval_dataset=features.eval,
        data_collator=collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks(config, run_dir, stop),
        loraplus_lr_ratio=config.finetuning.loraplus_lr_ratio,
    )
    return train_and_save(config, run_dir, stop, trainer, features, tokenizer)
