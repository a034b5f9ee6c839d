"""Packing puts several sequences in one row; each must behave exactly as if alone."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from workflows.config import load_config
from workflows.errors import ConfigError
from workflows.features.collator import PaddingCollator
from workflows.features.packing import pack_sequences
from workflows.features.supervised import IGNORE_INDEX, infer_seqlen


def _sequence(ids):
    return {"input_ids": ids, "labels": ids}


def test_packed_sequences_do_not_attend_to_each_other(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    first, second = [11, 12, 13, 14, 15, 16], [21, 22, 23, 24]
    rows = pack_sequences([_sequence(first), _sequence(second)], cutoff_len=16)
    assert len(rows) == 1
    batch = PaddingCollator(pad_token_id=0)(rows)
    assert "attention_mask" not in batch
    with torch.no_grad():
        # use_cache=False as in training: transformers reads packing from position_ids only without a KV cache
        packed_logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        alone = {len(ids): model(input_ids=torch.tensor([ids])).logits[0] for ids in (first, second)}
    assert torch.allclose(packed_logits[: len(first)], alone[len(first)], atol=1e-5)
    offset = len(first)
    assert torch.allclose(packed_logits[offset : offset + len(second)], alone[len(second)], atol=1e-5)


def test_first_token_of_each_packed_sequence_is_not_a_target():
    rows = pack_sequences([_sequence([1, 2, 3]), _sequence([4, 5])], cutoff_len=8)
    assert rows[0]["labels"] == [IGNORE_INDEX, 2, 3, IGNORE_INDEX, 5]
    assert rows[0]["position_ids"] == [0, 1, 2, 0, 1]


def test_packing_fills_rows_without_exceeding_cutoff():
    sequences = [_sequence(list(range(length))) for length in (7, 5, 3, 3, 2, 1)]
    rows = pack_sequences(sequences, cutoff_len=8)
    assert all(len(row["input_ids"]) <= 8 for row in rows)
    assert sum(len(row["input_ids"]) for row in rows) == 21
    assert len(rows) == 3


def test_unpacked_batch_is_right_padded_with_mask_and_ignored_labels():
    batch = PaddingCollator(pad_token_id=9, pad_to_multiple_of=4)([_sequence([1, 2, 3]), _sequence([4])])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 9], [4, 9, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3, IGNORE_INDEX], [4, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]]


def test_truncation_keeps_short_answers_whole_and_shares_long_ones():
    assert infer_seqlen(source_len=100, target_len=10, cutoff_len=64) == (54, 10)
    assert infer_seqlen(source_len=10, target_len=100, cutoff_len=64) == (10, 54)
    assert infer_seqlen(source_len=100, target_len=100, cutoff_len=64) == (32, 32)


def test_llamafactory_neat_packing_is_our_packing():
    assert load_config(None, ["neat_packing=true"]).data.packing is True
    assert load_config(None, ["neat_packing=false", "stage=pt"]).data.packing is None  # plain packing = ours: never across examples
    with pytest.raises(ConfigError, match="keep only `packing`"):
        load_config(None, ["neat_packing=true", "packing=false"])
