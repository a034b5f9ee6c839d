"""Tokenised features are cached across runs, keyed by everything that changes them."""

import shutil
from pathlib import Path

import pytest

from workflows.config import load_config
from workflows.data import load_examples
from workflows.features.build import build_features, encode_examples
from workflows.features.table import TokenTable
from workflows.models.loader import load_tokenizer
from workflows.templates import get_template

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LLAMABOARD_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("dataset_info.json", "identity.json"):
        shutil.copy(DATA_DIR / name, folder / name)
    return folder


def _build(tiny_model_dir, data_dir, *overrides: str):
    config = load_config(
        None, [f"model_name_or_path={tiny_model_dir}", "dataset=identity", f"dataset_dir={data_dir}", "template=qwen", *overrides]
    )
    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    return build_features(config, tokenizer, template)


def test_a_second_run_reuses_the_features_unless_what_they_hold_changes(tiny_model_dir, data_dir):
    first = _build(tiny_model_dir, data_dir)
    second = _build(tiny_model_dir, data_dir, "preprocessing_num_workers=2", "padding_free=false")  # how, not what
    assert not first.from_cache and second.from_cache
    assert second.fingerprint == first.fingerprint and second.train["input_ids"] == first.train["input_ids"]
    for changed in ("cutoff_len=64", "template=default", "stage=pt", "seed=7", "overwrite_cache=true"):
        assert not _build(tiny_model_dir, data_dir, changed).from_cache, changed


def test_editing_dataset_info_tokenises_again(tiny_model_dir, data_dir):
    assert not _build(tiny_model_dir, data_dir).from_cache
    info = data_dir / "dataset_info.json"
    info.write_text(info.read_text().replace('"identity": {', '"identity": {"num_samples": 10, '))
    rebuilt = _build(tiny_model_dir, data_dir)
    assert not rebuilt.from_cache and len(rebuilt.train) == 10


def test_workers_give_the_same_features_in_the_same_order(tiny_model_dir):
    config = load_config(None, [f"model_name_or_path={tiny_model_dir}", "dataset=identity", f"dataset_dir={DATA_DIR}", "template=qwen"])
    tokenizer = load_tokenizer(config.model)
    template = get_template("qwen", tokenizer)
    examples = load_examples(config.data, "identity", "sft")
    assert encode_examples(examples, config, tokenizer, template, workers=3) == encode_examples(examples, config, tokenizer, template)


def test_cached_rows_read_back_exactly_as_they_were_encoded(tmp_path):
    """Lists of token ids (empty ones too, and -100 labels) and one number per row, as the collators receive them."""
    rows = [
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "kl_input_ids": [], "kto_tag": 1},
        {"input_ids": [151_643], "labels": [151_643], "kl_input_ids": [9, 9], "kto_tag": 0},
    ]
    TokenTable.from_rows(rows).save(tmp_path / "train")
    table = TokenTable.load(tmp_path / "train")
    assert len(table) == 2 and list(table) == rows and table[-1] == rows[1] and table[0:1] == rows[:1]
    assert table["labels"] == [[-100, 6, 7], [151_643]] and table.column_names == ["input_ids", "labels", "kl_input_ids", "kto_tag"]
    assert all(type(value) is int for value in table[0]["input_ids"]) and type(table[0]["kto_tag"]) is int
    with pytest.raises(IndexError):
        table[2]
