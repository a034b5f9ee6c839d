"""`preview-data` shows what the model will learn from, using only the tokenizer."""

import json
import subprocess
import sys
from pathlib import Path

from workflows.config import load_config
from workflows.features.supervised import IGNORE_INDEX, encode_supervised
from workflows.models.loader import load_tokenizer
from workflows.templates import get_template

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONVERSATION = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there"},
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "Blue"},
    ]
}


def preview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows", "preview-data", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def learned_text(tokenizer, encoded) -> list[str]:
    """The label spans as text, one string per contiguous run of learned tokens."""
    spans, current = [], []
    for label in encoded["labels"] + [IGNORE_INDEX]:
        if label == IGNORE_INDEX:
            if current:
                spans.append(tokenizer.decode(current))
            current = []
        else:
            current.append(label)
    return spans


def _encode(*overrides: str):
    config = load_config(None, ["template=qwen", *overrides])
    tokenizer = load_tokenizer(config.model)
    template = get_template("qwen", tokenizer)
    return tokenizer, encode_supervised(CONVERSATION, template, tokenizer, config.data)


def test_only_assistant_turns_and_their_end_tokens_are_learned():
    tokenizer, encoded = _encode()
    assert learned_text(tokenizer, encoded) == ["Hello there<|im_end|>\n", "Blue<|im_end|>\n"]


def test_mask_history_learns_only_the_last_answer():
    tokenizer, encoded = _encode("mask_history=true")
    assert learned_text(tokenizer, encoded) == ["Blue<|im_end|>\n"]
    assert tokenizer.decode(encoded["input_ids"]).startswith("<|im_start|>system\nBe brief.")


def test_train_on_prompt_learns_everything():
    _, encoded = _encode("train_on_prompt=true")
    assert encoded["labels"] == encoded["input_ids"]


def test_cutoff_len_truncates_and_counts_lost_answer_tokens():
    _, encoded = _encode("cutoff_len=12")
    assert len(encoded["input_ids"]) <= 12
    assert encoded["dropped_answer_tokens"] > 0


def test_preview_prints_ids_masked_labels_and_rendered_text():
    result = preview("examples/tiny_lora_sft.yaml", "max_samples=2", "dataset=identity")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    first = records[0]
    assert first["text"].startswith("<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\nI am LlamaBoard Assistant")
    assert len(first["input_ids"]) == len(first["labels"]) == len(first["tokens"])
    assert first["labels"][0] == IGNORE_INDEX and first["labels"][-1] != IGNORE_INDEX
    assert "".join(first["tokens"]) == first["text"]


def test_preview_stats_report_lengths_and_truncation():
    result = preview("examples/tiny_lora_sft.yaml", "cutoff_len=40", "--stats")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["examples"] == 169 and stats["cutoff_len"] == 40
    assert stats["min"] <= stats["median"] <= stats["p95"] <= stats["max"]
    assert stats["truncated_examples"] > 0 and stats["dropped_answer_tokens"] > 0


def test_preview_reports_a_missing_dataset_clearly():
    result = preview("examples/tiny_lora_sft.yaml", "dataset=nope")
    assert result.returncode == 2 and "nope" in result.stderr and "Traceback" not in result.stderr
