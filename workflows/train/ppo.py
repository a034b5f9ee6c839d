"""Stage ppo: PPO with a learned value head against a reward model (an rm run), our own loop on transformers/peft.

trl 1.16 ships no PPO trainer: its stable API keeps GRPO and RLOO (no value
model), and ``trl.experimental`` (a2po, gkd, online_dpo, ...) has none either.
So this module runs the loop of trl's classic PPOTrainer, the one LLaMA-Factory's
ppo stage uses, inside the HF Trainer. Each Trainer step is one PPO iteration
(LLaMA-Factory's batch semantics):

1. rollouts: the policy samples an answer for each of
   ``per_device_train_batch_size × gradient_accumulation_steps × ppo_buffer_size``
   prompts (generation keys: max_new_tokens, temperature, top_p, top_k, do_sample),
   and records its log-probabilities and its value head's predictions;
2. rewards per token: ``−kl_coef × (log π − log π_ref)`` on every answer token
   (the reference: the policy without its LoRA adapters, a frozen copy, or
   ``ref_model``), plus the reward model's score on the last one
   (``ppo_score_norm``: normalised by running mean/std); the adaptive
   coefficient steers the summed KL per answer towards ``ppo_target``;
3. advantages: GAE over the value predictions (``ppo_whiten_rewards``: the
   rewards are whitened first), then whitened;
4. ``ppo_epochs`` passes over the shuffled rollouts, each split into
   ``ppo_buffer_size`` optimizer steps of ``per_device_train_batch_size ×
   gradient_accumulation_steps`` rollouts, gradients accumulated over
   mini-batches of ``per_device_train_batch_size``; the loss is the clipped
   surrogate plus VALUE_LOSS_COEF × the clipped value loss (ppo_math). The last
   optimizer step is the Trainer's own, so clipping, the schedule, checkpoints,
   resume and SIGTERM work as for every stage.

The value head (value_head.py) shares the policy's body and trains with it; each
checkpoint and the run folder hold it as ``value_head.safetensors`` and the KL
coefficient and score moments as ``ppo_state.json``, so a resumed run continues
exactly. The saved model is a policy like an sft run's (chat loads it).

Logged: ``loss`` (policy + weighted value loss), ``reward`` (mean raw score),
``kl`` (mean summed KL per answer), ``kl_coef``, ``ppo/loss/policy``,
``ppo/loss/value``, ``ppo/policy/clipfrac``, ``ppo/val/clipfrac``,
``ppo/val/vpred`` (mean predicted value), ``ppo/returns/mean``.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.jobs import StopSignal
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model
from workflows.run_dir import RunDirectory
from workflows.train.alignment import StageMetricsMixin, callbacks, check_same_tokenizer, load_reference, prepare, train_and_save
from workflows.train.ppo_math import (
    VALUE_LOSS_COEF,
    AdaptiveKL,
    RunningMoments,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)
from workflows.train.trainer import LlamaBoardTrainer, compute_dtype, training_arguments
from workflows.train.value_head import attach_value_head, load_value_head, save_value_head

PPO_STATE_FILE = "ppo_state.json"


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


def answer_logps(model, input_ids, attention_mask, prompt_width: int, value_head=None):
    """Log-probability of each answer token (the tokens after ``prompt_width``) under ``model``; with a value head,
    also its value of the state each token was sampled in (read at the same positions as the logits)."""
    output = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions(attention_mask),
        use_cache=False,
        output_hidden_states=value_head is not None,
    )
    logits = output.logits[:, prompt_width - 1 : -1].float()
    logps = torch.gather(logits.log_softmax(-1), 2, input_ids[:, prompt_width:].unsqueeze(-1)).squeeze(-1)
    if value_head is None:
        return logps
    return logps, value_head(output.hidden_states[-1][:, prompt_width - 1 : -1])


def answer_mask(answers, eos_token_id: int):
    """1 for each answer token up to and including the first eos, 0 after it."""
    is_eos = (answers == eos_token_id).long()
    after_eos = (is_eos.cumsum(-1) - is_eos) > 0
    return (~after_eos).float()


@dataclass
class Rollouts:
    """Prompts + sampled answers and what the update needs from the moment they were sampled."""

    ids: torch.Tensor  # prompt (left-padded) + answer (right-padded)
    attention_mask: torch.Tensor
    prompt_width: int
    mask: torch.Tensor  # answer tokens (ppo_math's mask)
    logps: torch.Tensor
    ref_logps: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor


class PPOTrainer(StageMetricsMixin, LlamaBoardTrainer):
    def __init__(self, *args, config: RunConfig, ref_model, reward_model, value_head, minibatch_size: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_stage_metrics()
        self.rlhf, self.generation = config.rlhf, config.generation
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self.reward_model = reward_model.to(self.args.device)
        self.value_head = value_head
        self.minibatch_size = minibatch_size
        self.accumulation = config.training.gradient_accumulation_steps
        self.kl = AdaptiveKL(target=config.rlhf.ppo_target)
        self.score_moments = RunningMoments()

    def _reference_logps(self, ids, mask, width):
        if self.ref_model is not None:
            return answer_logps(self.ref_model, ids, mask, width)
        policy = self.accelerator.unwrap_model(self.model)
        with policy.disable_adapter():
            return answer_logps(policy, ids, mask, width)

    @torch.no_grad()
    def rollout(self, model, prompts, prompt_mask) -> Rollouts:
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
        logps, values = answer_logps(policy, ids, full_mask, width, self.value_head)
        ref_logps = self._reference_logps(ids, full_mask, width)
        scores = self.reward_model(input_ids=ids, attention_mask=full_mask, position_ids=positions(full_mask)).logits.squeeze(-1).float()
        return Rollouts(ids, full_mask, width, mask, logps, ref_logps, values, scores)

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs = self._prepare_inputs(inputs)
        batch = self.rollout(model, inputs["input_ids"], inputs["attention_mask"])
        every_score = self.accelerator.gather(batch.scores)  # under torchrun, the moments and the KL are every rank's
        scores = batch.scores
        if self.rlhf.ppo_score_norm:
            self.score_moments.update(every_score)
            scores = self.score_moments.normalise(scores)
        rewards, kl = token_rewards(scores, batch.logps, batch.ref_logps, batch.mask, self.kl.value)
        if self.rlhf.ppo_whiten_rewards:
            rewards = masked_whiten(rewards, batch.mask, shift_mean=False)
        advantages, returns = gae(rewards, batch.values, batch.mask)
        advantages = masked_whiten(advantages, batch.mask)
        model.train()
        loss = self.optimise(model, batch, advantages, returns)
        summed_kl = self.accelerator.gather(kl.sum(-1)).mean().item()
        self.record(
            reward=batch.scores.mean(),
            kl=summed_kl,
            kl_coef=self.kl.value,
            **{"ppo/returns/mean": masked_mean(returns, batch.mask)},
        )
        self.kl.update(summed_kl, len(every_score))
        return loss

    def optimise(self, model, batch: Rollouts, advantages, returns):
        """``ppo_epochs`` passes over the rollouts; every optimizer step but the last (the Trainer's) is made here."""
        steps = []
        for _ in range(self.rlhf.ppo_epochs):
            order = torch.randperm(len(batch.ids), device=batch.ids.device)
            steps.extend(order.split(self.minibatch_size * self.accumulation))
        losses = []
        for number, step in enumerate(steps):
            minibatches = step.split(self.minibatch_size)
            for index in minibatches:
                loss = self.minibatch_loss(model, batch, index, advantages[index], returns[index])
                self.accelerator.backward(loss / len(minibatches))
                losses.append(loss.detach())
            if number < len(steps) - 1:
                if self.args.max_grad_norm:
                    self.accelerator.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad()
        return torch.stack(losses).mean()

    def minibatch_loss(self, model, batch: Rollouts, index, advantages, returns):
        logps, values = answer_logps(model, batch.ids[index], batch.attention_mask[index], batch.prompt_width, self.value_head)
        mask = batch.mask[index]
        policy, policy_clipped = policy_loss(logps, batch.logps[index], advantages, mask)
        value, value_clipped = value_loss(values, batch.values[index], returns, mask)
        self.record(
            **{
                "ppo/loss/policy": policy.detach(),
                "ppo/loss/value": value.detach(),
                "ppo/policy/clipfrac": policy_clipped,
                "ppo/val/clipfrac": value_clipped,
                "ppo/val/vpred": masked_mean(values.detach(), mask),
            }
        )
        return policy + VALUE_LOSS_COEF * value

    def _save(self, output_dir=None, state_dict=None):
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            folder = Path(output_dir or self.args.output_dir)
            save_value_head(self.value_head, folder)
            state = {"kl_coef": self.kl.value, "score_moments": asdict(self.score_moments)}
            (folder / PPO_STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_value_head(self.value_head, resume_from_checkpoint)
        state = json.loads((Path(resume_from_checkpoint) / PPO_STATE_FILE).read_text(encoding="utf-8"))
        self.kl.value, self.score_moments = state["kl_coef"], RunningMoments(**state["score_moments"])


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
    if args.ddp_find_unused_parameters:  # DDP's search would call the value head unused: it runs after the model's forward
        raise ConfigError(
            "`ddp_find_unused_parameters: true` cannot train stage ppo: its value head runs after the model's forward, "
            "which DDP's search for unused weights does not allow. Remove the key."
        )
    args.ddp_find_unused_parameters = False
    model = load_model(config.model, tokenizer, cutoff_len=config.data.cutoff_len, compute_dtype=compute_dtype(config))
    reference = load_reference(config, tokenizer, model)
    reward_model = load_reward_model(config, tokenizer)
    model = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=config.training.gradient_checkpointing)
    value_head = attach_value_head(model)  # after freezing: it trains whatever layers do
    trainer = PPOTrainer(
        model=model,
        args=args,
        config=config,
        ref_model=reference,
        reward_model=reward_model,
        value_head=value_head,
        minibatch_size=train.per_device_train_batch_size,
        train_dataset=features.train,
        eval_dataset=None,
        data_collator=PromptCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks(config, run_dir, stop),
        loraplus_lr_ratio=config.finetuning.loraplus_lr_ratio,
    )
    return train_and_save(config, run_dir, stop, trainer, features.__class__(features.train, None, features.fingerprint), tokenizer)
