"""What the alignment recipes (rm, dpo, kto, ppo) share: the reference model, log-probabilities, the run skeleton.

The skeleton mirrors the sft recipe (``causal_lm``) step for step, so every
stage keeps the run directory contract: seed -> tokenizer and template ->
features (bad pairs dropped and counted) -> checks before any weight loads ->
model -> trainer with TrainerLogCallback (trainer_log.jsonl rows with the
stage's metrics, NaN watch) and GracefulStopCallback (SIGTERM -> checkpoint) ->
train (resumable) -> save, metrics, plot.
"""

import copy
import logging
from collections.abc import Callable

from transformers import PrinterCallback, set_seed

from workflows.config import RunConfig
from workflows.config.schema import ModelArgs
from workflows.errors import ConfigError
from workflows.features.build import Features, build_features
from workflows.jobs import StopSignal
from workflows.models.loader import adapter_paths, load_model, load_model_config, load_tokenizer, merge_adapters
from workflows.run_dir import RunDirectory
from workflows.stages import get_stage
from workflows.templates import get_template
from workflows.train.callbacks import GracefulStopCallback, TrainerLogCallback
from workflows.train.limits import check_against_model
from workflows.train.trainer import compute_dtype, extra_callbacks, record_results, train_watching_the_loss

logger = logging.getLogger(__name__)


def sequence_logps(model, input_ids, attention_mask, labels):
    """Per-example sum of the log-probabilities of the labelled tokens, and their number."""
    import torch

    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1].float()
    targets = labels[:, 1:]
    mask = targets != -100
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (token_logps * mask).sum(-1), mask.sum(-1)


def check_same_tokenizer(config: RunConfig, tokenizer, path: str, key: str) -> None:
    """A reference or reward model must read the same token ids as the policy (checked before weights load)."""
    other = load_tokenizer(config.model.model_copy(update={"model_name_or_path": path, "adapter_name_or_path": None}))
    if other.get_vocab() != tokenizer.get_vocab():
        raise ConfigError(
            f"`{key}: {path}` has another tokenizer than the model being trained (`{config.model.model_name_or_path}`, "
            f"{len(tokenizer)} vs {len(other)} tokens): the log-probabilities would not be comparable. "
            f"Use a {key} built on the same base model."
        )


def load_reference(config: RunConfig, tokenizer, policy_before_training):
    """The frozen reference of dpo/kto/ppo; None means "the policy with its LoRA adapters disabled".

    ``ref_model`` when given; otherwise a frozen copy of the starting policy for full/freeze (LoRA needs no copy).
    """
    rlhf = config.rlhf
    if rlhf.ref_model:
        args = ModelArgs(
            model_name_or_path=rlhf.ref_model,
            adapter_name_or_path=rlhf.ref_model_adapters,
            quantization_bit=rlhf.ref_model_quantization_bit,
            trust_remote_code=config.model.trust_remote_code,
        )
        reference = load_model(args, tokenizer, cutoff_len=config.data.cutoff_len, compute_dtype=compute_dtype(config))
    elif config.finetuning.finetuning_type == "lora" and not adapter_paths(config.model):
        return None
    else:  # full/freeze, or LoRA continuing an adapter (an sft run): the reference is where training starts, adapters merged
        reference = merge_adapters(copy.deepcopy(policy_before_training), adapter_paths(config.model))
    reference.requires_grad_(False)
    return reference.eval()


def prepare(config: RunConfig, run_dir: RunDirectory, check: Callable = lambda tokenizer: None):
    """Seed, tokenizer, template and features, and every check that needs no weights. Returns (tokenizer, features)."""
    set_seed(config.training.seed)
    tokenizer = load_tokenizer(config.model)
    check(tokenizer)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    features = build_features(config, tokenizer, template)
    run_dir.write_provenance(features.files, features.fingerprint)
    check_against_model(config, load_model_config(config.model), len(features.train))
    return tokenizer, features


def callbacks(config: RunConfig, run_dir: RunDirectory, stop: StopSignal) -> list:
    metrics = get_stage(config.finetuning.stage).metrics
    return [TrainerLogCallback(run_dir, metrics=metrics), GracefulStopCallback(stop), *extra_callbacks(config)]


def train_and_save(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, trainer, features: Features, tokenizer) -> str:
    """Train (resuming when asked), then save the model, metrics, state and plot like the sft recipe."""
    trainer.remove_callback(PrinterCallback)
    result = train_watching_the_loss(trainer, config)
    if stop.received:
        return "aborted"
    trainer.save_model()
    if run_dir.is_main_process:
        tokenizer.save_pretrained(run_dir.path)
    record_results(trainer, result, config, run_dir, evaluate=features.eval is not None)
    return "finished"


class StageMetricsMixin:
    """Collects per-step metrics in ``compute_loss`` and adds their means to the next log (``eval_`` prefixed in eval).

    Under torchrun every rank logs the same step (the Trainer calls ``log`` on all of them), so the means are taken
    over every rank's batches, as trl's trainers gather theirs; rank 0 writes them.
    """

    def _init_stage_metrics(self):
        self._stage_metrics = {"train": {}, "eval": {}}
        self.model_accepts_loss_kwargs = False  # our losses are means: let the Trainer scale them for accumulation

    def record(self, **values):
        mode = "train" if self.model.training else "eval"
        for key, value in values.items():
            self._stage_metrics[mode].setdefault(key, []).append(float(value))

    def log(self, logs: dict, start_time=None) -> None:
        mode = "train" if self.model.training else "eval"
        prefix = "eval_" if mode == "eval" else ""
        collected = self._stage_metrics[mode]
        totals = {key: (sum(values), len(values)) for key, values in collected.items() if values}
        if self.args.world_size > 1:
            totals = _summed_over_ranks(totals)
        logs.update({f"{prefix}{key}": total / count for key, (total, count) in totals.items()})
        collected.clear()
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        import torch

        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None


def _summed_over_ranks(totals: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
    """Each metric's (sum, count) added up over the ranks; a rank may lack a metric (a kto batch without a bad answer)."""
    import torch.distributed as dist

    every_rank = [None] * dist.get_world_size()
    dist.all_gather_object(every_rank, totals)
    summed: dict[str, tuple[float, int]] = {}
    for rank_totals in every_rank:
        for key, (total, count) in rank_totals.items():
            previous = summed.get(key, (0.0, 0))
            summed[key] = (previous[0] + total, previous[1] + count)
    return summed
