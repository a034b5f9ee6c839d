"""Padding-free batches: one flattened row per batch that trains exactly like the padded batch."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ConfigError
from workflows.features.collator import FlatteningCollator, PaddingCollator
from workflows.features.padding_free import BatchCost, choose_collator, keeps_examples_apart
from workflows.features.supervised import IGNORE_INDEX


def _example(length: int, prompt: int, offset: int) -> dict:
    ids = [(offset + 7 * index) % 4000 + 5 for index in range(length)]
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]}


# very different lengths: the padded batch is mostly padding
BATCH = [_example(5, 2, 0), _example(61, 20, 100), _example(23, 9, 900), _example(2, 1, 300)]


def _loss_and_gradients(model, batch: dict) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.item(), {name: parameter.grad.clone() for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_flattened_batch_gives_the_padded_loss_and_gradients(tiny_model_dir, attention):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
    padding = PaddingCollator(pad_token_id=0)
    padded_loss, padded_grads = _loss_and_gradients(model, padding(BATCH))
    flat_loss, flat_grads = _loss_and_gradients(model, FlatteningCollator(padding)(BATCH))
    assert abs(flat_loss - padded_loss) < 1e-4
    for name, gradient in padded_grads.items():
        assert torch.allclose(flat_grads[name], gradient, atol=1e-6, rtol=1e-4), name


def test_flattened_batch_is_one_row_with_restarting_positions_and_no_mask():
    batch = FlatteningCollator(PaddingCollator(pad_token_id=0))([_example(3, 1, 0), _example(2, 0, 50)])
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert batch["input_ids"].shape == (1, 5)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    first, second = _example(3, 1, 0)["input_ids"], _example(2, 0, 50)["input_ids"]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, *first[1:], IGNORE_INDEX, *second[1:]]]


def test_auto_flattens_a_batch_only_when_that_costs_less_than_padding():
    dense = BatchCost(flops_per_token=1000.0, flops_per_pair=100.0, attention="sdpa")
    assert dense.flattening_pays([40, 400, 30, 20], padded_width=400)  # mostly padding
    assert not dense.flattening_pays([400, 400, 400, 400], padded_width=400)  # no padding to save, 4x the attention
    flash = BatchCost(flops_per_token=1000.0, flops_per_pair=100.0, attention="flash_attention_2")
    assert flash.flattening_pays([400, 400, 400, 392], padded_width=400)  # variable-length kernels never pay for the others


def test_a_model_that_lets_flattened_examples_meet_is_found_and_refused(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert keeps_examples_apart(model) is True
    attend_everywhere = model.forward

    def forward(input_ids, **kwargs):  # an all-ones mask disables transformers' packed-sequence detection
        return attend_everywhere(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)

    model.forward = forward
    assert keeps_examples_apart(model) is False
    assert isinstance(choose_collator(load_config(None, []), model, 0, packed=False), PaddingCollator)
    with pytest.raises(ConfigError, match="padding_free: false"):
        choose_collator(load_config(None, ["padding_free=true"]), model, 0, packed=False)


def _losses(run_dir: Path) -> list[float]:
    return [row["loss"] for row in map(json.loads, (run_dir / "trainer_log.jsonl").read_text().splitlines()) if "loss" in row]


def test_training_with_and_without_padding_logs_the_same_losses(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")
    short_run = ["train", "examples/tiny_lora_sft.yaml", "max_steps=3", "save_steps=3", "logging_steps=1", "per_device_train_batch_size=8"]
    for padding_free in ("true", "false"):
        assert main([*short_run, f"padding_free={padding_free}", f"output_dir={tmp_path / padding_free}"]) == 0
    flattened, padded = _losses(tmp_path / "true"), _losses(tmp_path / "false")
    assert len(padded) == 3
    assert flattened == pytest.approx(padded, abs=1e-4)
