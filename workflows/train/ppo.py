"""Stage ppo: PPO against a reward model (an rm run), our own loop on transformers/peft.

trl 1.16 has no PPO trainer (its stable API keeps GRPO/RLOO; ``trl.experimental``
has none either), so this module is the loop, kept small and readable. Each
optimizer step of the Trainer is one PPO iteration (LLaMA-Factory's batch
semantics):

1. rollouts: the policy samples an answer for each of
   ``per_device_train_batch_size × gradient_accumulation_steps × ppo_buffer_size``
   prompts (generation keys: max_new_tokens, temperature, top_p, top_k, do_sample);
2. scoring: the reward model scores prompt + answer (``ppo_score_norm``:
   normalised by running mean/std); the per-token KL to the reference
   (the policy without its LoRA adapters, a frozen copy, or ``ref_model``) is
   subtracted, weighted by an adaptive coefficient that steers the KL towards
   ``ppo_target``;
3. advantages: reward minus the batch mean (a baseline instead of a learned
   value head: no critic to train or save), whitened with
   ``ppo_whiten_rewards``;
4. ``ppo_epochs`` passes of the clipped PPO objective over mini-batches of
   ``per_device_train_batch_size``; the last mini-batch's optimizer step is the
   Trainer's own (so clipping, the schedule, checkpoints, resume and SIGTERM
   work as for every stage).

Logged: loss, ``reward`` (mean raw score), ``kl`` (mean summed KL per answer),
``kl_coef``. The saved run is a policy like an sft run (chat loads it).
"""

import json
import logging
import math
from pathlib import Path

import torch

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.jobs import StopSignal
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model
from workflows.run_dir import RunDirectory
from workflows.train.alignment import StageMetricsMixin, callbacks, check_same_tokenizer, load_reference, prepare, train_and_save
from workflows.train.trainer import LlamaBoardTrainer, compute_dtype, training_arguments

logger = logging.getLogger(__name__)
CLIP_RANGE = 0.2
INITIAL_KL_COEF = 0.2
KL_HORIZON = 10000  # trl's AdaptiveKLController


class PromptCollator:
    """Left-pads prompts (generation appends on the right)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        ids = [[self.pad_token_id] * (width - len(f["input_ids"])) + list(f["input_ids"]) for f in features]
        mask = [[0] * (width - len(f["input_ids"])) + [1] * len(f["input_ids"]) for f in features]
        return {"input_ids": torch.tensor(ids, dtype=torch.long), "attention_mask": torch.tensor(mask, dtype=torch.long)}


def positions(attention_mask):
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def answer_logps(model, input_ids, attention_mask, prompt_width: int):
    """Log-probability of each answer token (the tokens after ``prompt_width``) under ``model``."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask), use_cache=False).logits
    logits = logits[:, prompt_width - 1 : -1].float()
    return torch.gather(logits.log_softmax(-1), 2, input_ids[:, prompt_width:].unsqueeze(-1)).squeeze(-1)


def answer_mask(answers, eos_token_id: int):
    """1 for each answer token up to and including the first eos, 0 after it."""
    is_eos = (answers == eos_token_id).long()
    after_eos = (is_eos.cumsum(-1) - is_eos) > 0
    return (~after_eos).float()


def whiten(values, shift_mean: bool = True):
    mean, std = values.mean(), values.std() if values.numel() > 1 else torch.ones((), device=values.device)
    whitened = (values - mean) / (std + 1e-8)
    return whitened if shift_mean else whitened + mean


class PPOTrainer(StageMetricsMixin, LlamaBoardTrainer):
    def __init__(self, *args, config: RunConfig, ref_model, reward_model, minibatch_size: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_stage_metrics()
        self.rlhf, self.generation = config.rlhf, config.generation
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self.reward_model = reward_model.to(self.args.device)
        self.minibatch_size = minibatch_size
        self.kl_coef = INITIAL_KL_COEF
        self.score_count, self.score_mean, self.score_var = 0, 0.0, 1.0

    def _reference_logps(self, ids, mask, width):
        if self.ref_model is not None:
            return answer_logps(self.ref_model, ids, mask, width)
        policy = self.accelerator.unwrap_model(self.model)
        with policy.disable_adapter():
            return answer_logps(policy, ids, mask, width)

    def _normalise(self, scores):
        """Running mean/std of the scores (Welford, merged per batch)."""
        n, mean, var = len(scores), scores.mean().item(), scores.var(unbiased=False).item() if len(scores) > 1 else 0.0
        total = self.score_count + n
        delta = mean - self.score_mean
        self.score_var = (self.score_var * self.score_count + var * n + delta**2 * self.score_count * n / total) / total
        self.score_mean += delta * n / total
        self.score_count = total
        return (scores - self.score_mean) / math.sqrt(self.score_var + 1e-8)

    @torch.no_grad()
    def rollout(self, model, prompts, prompt_mask):
        policy = self.accelerator.unwrap_model(model)
        policy.eval()
        tokenizer = self.processing_class
        gen = self.generation
        sampled = policy.generate(
            input_ids=prompts,
            attention_mask=prompt_mask,
            max_new_tokens=gen.max_new_tokens,
            do_sample=gen.do_sample,
            temperature=gen.temperature,
            top_p=gen.top_p,
            top_k=gen.top_k,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            use_cache=True,
        )
        width = prompts.shape[1]
        answers = sampled[:, width:]
        mask = answer_mask(answers, tokenizer.eos_token_id)
        answers = answers.masked_fill(mask == 0, tokenizer.pad_token_id)
        ids = torch.cat([prompts, answers], dim=1)
        full_mask = torch.cat([prompt_mask, mask.long()], dim=1)
        old_logps = answer_logps(policy, ids, full_mask, width)
        ref_logps = self._reference_logps(ids, full_mask, width)
        scores = self.reward_model(input_ids=ids, attention_mask=full_mask, position_ids=positions(full_mask)).logits.squeeze(-1).float()
        return ids, full_mask, mask, width, old_logps, ref_logps, scores

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs = self._prepare_inputs(inputs)
        ids, full_mask, mask, width, old_logps, ref_logps, scores = self.rollout(model, inputs["input_ids"], inputs["attention_mask"])
        kl = ((old_logps - ref_logps) * mask).sum(-1)
        shaped = (self._normalise(scores) if self.rlhf.ppo_score_norm else scores) - self.kl_coef * kl
        advantages = shaped - shaped.mean() if len(shaped) > 1 else shaped
        if self.rlhf.ppo_whiten_rewards:
            advantages = whiten(advantages)
        model.train()
        minibatches = torch.arange(len(ids), device=ids.device).split(self.minibatch_size)
        losses = []
        for epoch in range(self.rlhf.ppo_epochs):
            for number, index in enumerate(minibatches):
                new_logps = answer_logps(model, ids[index], full_mask[index], width)
                ratio = torch.exp(new_logps - old_logps[index])
                advantage = advantages[index].unsqueeze(-1)
                objective = torch.min(ratio * advantage, ratio.clamp(1 - CLIP_RANGE, 1 + CLIP_RANGE) * advantage)
                loss = -(objective * mask[index]).sum() / mask[index].sum().clamp(min=1)
                self.accelerator.backward(loss)
                losses.append(loss.detach())
                if epoch < self.rlhf.ppo_epochs - 1 or number < len(minibatches) - 1:  # the Trainer makes the last step
                    if self.args.max_grad_norm:
                        self.accelerator.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad()
        mean_kl = kl.mean().item()
        error = max(min(mean_kl / self.rlhf.ppo_target - 1, 0.2), -0.2)
        self.kl_coef *= 1 + error * len(ids) / KL_HORIZON
        self.record(reward=scores.mean(), kl=mean_kl, kl_coef=self.kl_coef)
        return torch.stack(losses).mean()

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        state = {"kl_coef": self.kl_coef, "score_count": self.score_count, "score_mean": self.score_mean, "score_var": self.score_var}
        folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        (folder / "ppo_state.json").write_text(json.dumps(state), encoding="utf-8")

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        saved = Path(resume_from_checkpoint) / "ppo_state.json"
        if saved.is_file():
            state = json.loads(saved.read_text(encoding="utf-8"))
            self.kl_coef, self.score_count = state["kl_coef"], state["score_count"]
            self.score_mean, self.score_var = state["score_mean"], state["score_var"]


def _check_reward_model(config: RunConfig, tokenizer) -> None:
    rlhf = config.rlhf
    folder = Path(rlhf.reward_model)
    if not folder.is_dir():
        raise ConfigError(f"`reward_model: {rlhf.reward_model}` is not a folder: pass the output_dir of a finished rm run (stage: rm).")
    if rlhf.reward_model_type == "lora":
        adapter = folder / "adapter_config.json"
        if not adapter.is_file() or '"SEQ_CLS"' not in adapter.read_text(encoding="utf-8"):
            raise ConfigError(
                f"`reward_model: {rlhf.reward_model}` is not a LoRA reward model (an rm run with finetuning_type: lora). "
                "For a full or freeze rm run set `reward_model_type: full`."
            )
    elif not (folder / "config.json").is_file():
        raise ConfigError(f"`reward_model: {rlhf.reward_model}` has no config.json: pass the folder of a full or freeze rm run.")
    check_same_tokenizer(config, tokenizer, rlhf.reward_model, "reward_model")


def load_reward_model(config: RunConfig, tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    rlhf = config.rlhf
    base = config.model.model_name_or_path if rlhf.reward_model_type == "lora" else rlhf.reward_model
    args = config.model.model_copy(
        update={"model_name_or_path": base, "adapter_name_or_path": None, "quantization_bit": rlhf.reward_model_quantization_bit}
    )
    model = load_model(args, tokenizer, compute_dtype=compute_dtype(config), model_class=AutoModelForSequenceClassification)
    model.config.pad_token_id = tokenizer.pad_token_id
    adapters = [part.strip() for part in (rlhf.reward_model_adapters or "").split(",") if part.strip()]
    if rlhf.reward_model_type == "lora":
        adapters.append(rlhf.reward_model)
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.requires_grad_(False)
    return model.eval()


def run(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, show_progress: bool) -> str:
    def check(tokenizer):
        _check_reward_model(config, tokenizer)
        if config.rlhf.ref_model:
            check_same_tokenizer(config, tokenizer, config.rlhf.ref_model, "ref_model")

    tokenizer, features = prepare(config, run_dir, check)
    if stop.received:
        return "aborted"
    train = config.training
    rollouts = train.per_device_train_batch_size * train.gradient_accumulation_steps * config.rlhf.ppo_buffer_size
    args = training_arguments(
        config.replace(per_device_train_batch_size=rollouts, gradient_accumulation_steps=1), run_dir.path, show_progress
    )
    model = load_model(config.model, tokenizer, cutoff_len=config.data.cutoff_len, compute_dtype=compute_dtype(config))
    reference = load_reference(config, tokenizer, model)
    reward_model = load_reward_model(config, tokenizer)
    model = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=config.training.gradient_checkpointing)
    trainer = PPOTrainer(
        model=model,
        args=args,
        config=config,
        ref_model=reference,
        reward_model=reward_model,
        minibatch_size=train.per_device_train_batch_size,
        train_dataset=features.train,
        eval_dataset=None,
        data_collator=PromptCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks(config, run_dir, stop),
        loraplus_lr_ratio=config.finetuning.loraplus_lr_ratio,
    )
    return train_and_save(config, run_dir, stop, trainer, features.__class__(features.train, None, features.fingerprint), tokenizer)
