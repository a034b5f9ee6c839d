"""`preview-data`: what the model will see, from the tokenizer alone (no model weights)."""

import statistics

from workflows.config import RunConfig
from workflows.data import load_examples
from workflows.errors import DatasetError
from workflows.features.build import ENCODERS, as_text, encode_examples
from workflows.features.pretrain import encode_pretrain
from workflows.features.supervised import encode_supervised
from workflows.models.loader import load_tokenizer
from workflows.stages import get_stage
from workflows.templates import get_template

DEFAULT_PREVIEW_COUNT = 5


def _prepare(config: RunConfig):
    if not config.data.dataset:
        raise DatasetError("Nothing to preview: set `dataset` to one or more names from dataset_info.json.")
    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    examples = load_examples(config.data, config.data.dataset, config.finetuning.stage, seed=config.training.seed)
    return tokenizer, template, examples


def preview_examples(config: RunConfig) -> list[dict]:
    """The first `max_samples` examples (default 5) as ids, labels and rendered text."""
    tokenizer, template, examples = _prepare(config)
    shown = examples[: config.data.max_samples or DEFAULT_PREVIEW_COUNT]
    records = []
    for example, encoded in zip(shown, encode_examples(shown, config, tokenizer, template)):
        records.append(
            {
                "source": example.get("source"),
                "input_ids": encoded["input_ids"],
                "labels": encoded["labels"],
                "text": tokenizer.decode(encoded["input_ids"], skip_special_tokens=False),
                "tokens": [tokenizer.decode([token_id], skip_special_tokens=False) for token_id in encoded["input_ids"]],
            }
        )
        if "rejected_input_ids" in encoded:  # rm/dpo: input_ids/labels hold prompt + chosen, these prompt + rejected
            records[-1]["rejected_labels"] = encoded["rejected_labels"]
            records[-1]["rejected_text"] = tokenizer.decode(encoded["rejected_input_ids"], skip_special_tokens=False)
            records[-1]["rejected_tokens"] = [
                tokenizer.decode([token_id], skip_special_tokens=False) for token_id in encoded["rejected_input_ids"]
            ]
        if "kto_tag" in encoded:
            records[-1]["kto_tag"] = bool(encoded["kto_tag"])
    return records


def token_statistics(config: RunConfig) -> dict:
    """Token lengths before truncation and what `cutoff_len` cuts away."""
    tokenizer, template, examples = _prepare(config)
    cutoff = config.data.cutoff_len
    untruncated = config.data.model_copy(update={"cutoff_len": 10**9})
    lengths, dropped_answer_tokens, truncated = [], 0, 0
    for example in examples:
        features = get_stage(config.finetuning.stage).features
        if features == "pretrain":
            length = sum(len(chunk["input_ids"]) for chunk in encode_pretrain(as_text(example), tokenizer, untruncated))
        elif features != "supervised":  # rm/dpo (the longer answer of the pair), kto, ppo (the prompt)
            whole = ENCODERS[features]([example], config.model_copy(update={"data": untruncated}), tokenizer, template)[0]
            length = max(len(whole["input_ids"]), len(whole.get("rejected_input_ids", ())))
        else:
            length = len(encode_supervised(example, template, tokenizer, untruncated)["input_ids"])
            dropped_answer_tokens += (
                encode_supervised(example, template, tokenizer, config.data)["dropped_answer_tokens"] if length > cutoff else 0
            )
        lengths.append(length)
        truncated += length > cutoff
    ordered = sorted(lengths)
    return {
        "examples": len(lengths),
        "cutoff_len": cutoff,
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "total_tokens": sum(ordered),
        "truncated_examples": truncated,
        "dropped_answer_tokens": dropped_answer_tokens,
    }
