"""`python -m workflows eval` without a `task` (LLaMA-Factory's ``do_eval``): loss and perplexity on a dataset, as a job.

The examples of ``eval_dataset`` (or ``dataset``) are tokenised exactly as the
stage trains on them (same template, ``cutoff_len`` and label masking), and the
model's cross-entropy is averaged over every label token of the set (weighted
by tokens, not by batches). ``eval_results.json`` in the run directory::

    {"eval_loss": 1.234, "perplexity": 3.43, "eval_samples": 91, "eval_tokens": 2310,
     "eval_runtime": 1.9, "eval_samples_per_second": 47.9, "complete": true}

SIGTERM stops after the current batch and writes the figures of the batches done (``complete`` false).
"""

import math
import time

from workflows.config import RunConfig
from workflows.jobs import Outcome, ProgressLog, StopSignal
from workflows.run_dir import EVAL_LOSS_FILE, RunDirectory, write_json_atomic


def evaluation_dataset(config: RunConfig) -> str:
    return config.data.eval_dataset or config.data.dataset


def run_loss_eval(config: RunConfig, run_dir: RunDirectory, stop: StopSignal) -> Outcome:
    import torch

    from workflows.data import load_examples
    from workflows.features.build import encode_examples
    from workflows.features.collator import PaddingCollator
    from workflows.models.loader import adapter_paths, load_model, load_tokenizer, merge_adapters
    from workflows.templates import get_template

    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer, config.data.enable_thinking)
    template.fix_tokenizer(tokenizer)
    examples = load_examples(config.data, evaluation_dataset(config), config.finetuning.stage, seed=config.training.seed)
    features = encode_examples(examples, config, tokenizer, template)
    model = merge_adapters(load_model(config.model, tokenizer), adapter_paths(config.model))
    model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    collate = PaddingCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)

    size, started = config.training.per_device_eval_batch_size, time.monotonic()
    progress = ProgressLog(run_dir, len(features))
    progress.update(0)
    loss_sum, tokens, done = 0.0, 0, 0
    for start in range(0, len(features), size):
        if stop.received:
            break
        batch = {key: value.to(model.device) for key, value in collate(features[start : start + size]).items()}
        counted = int((batch["labels"][:, 1:] != -100).sum())  # the shifted label tokens the model's mean loss averages over
        if counted:
            with torch.inference_mode():
                loss_sum += float(model(**batch).loss) * counted
            tokens += counted
        done = min(start + size, len(features))
        progress.update(done)
    eval_loss = loss_sum / tokens if tokens else float("nan")
    runtime = time.monotonic() - started
    results = {
        "eval_loss": round(eval_loss, 6),
        "perplexity": round(math.exp(eval_loss), 6) if tokens else None,
        "eval_samples": done,
        "eval_tokens": tokens,
        "eval_runtime": round(runtime, 4),
        "eval_samples_per_second": round(done / runtime, 3) if runtime else None,
        "complete": done == len(features),
    }
    write_json_atomic(run_dir.path / EVAL_LOSS_FILE, results)
    print(f"eval_loss {results['eval_loss']}, perplexity {results['perplexity']} on {done} examples", flush=True)
    if stop.received:
        return Outcome(
            "aborted", f"Aborted by {stop.received} after {done} of {len(features)} examples (partial loss in {EVAL_LOSS_FILE})."
        )
    return Outcome("finished")
