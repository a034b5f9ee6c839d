"""Sampling, mixing and the train/eval split: LLaMA-Factory's semantics, reproducible for a seed."""

import json
from collections import Counter
from pathlib import Path

import pytest

from workflows.config.schema import DataArgs
from workflows.data import load_examples, split_train_eval
from workflows.errors import ConfigError

PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"


def numbered(prefix: str, count: int) -> list[dict]:
    return [{"text": f"{prefix}{index}"} for index in range(count)]


@pytest.fixture
def two_datasets(tmp_path) -> Path:
    """`a` with 4 lines and `b` with 10 lines of plain text."""
    for name, count in (("a", 4), ("b", 10)):
        (tmp_path / f"{name}.txt").write_text("".join(f"{name}{index}\n" for index in range(count)))
    info = {name: {"file_name": f"{name}.txt"} for name in ("a", "b")}
    info["b_sampled"] = {"file_name": "b.txt", "num_samples": 15}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    return tmp_path


def texts(dataset_dir: Path, names: str, **overrides) -> list[str]:
    return [example["text"] for example in load_examples(DataArgs(dataset_dir=str(dataset_dir), **overrides), names, "pt", seed=7)]


def test_concat_keeps_dataset_order_and_max_samples_takes_the_first(two_datasets):
    assert texts(two_datasets, "a,b") == [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(10)]
    assert texts(two_datasets, ["a", "b"], max_samples=2) == ["a0", "a1", "b0", "b1"]


def test_num_samples_draws_every_example_then_repeats(two_datasets):
    drawn = texts(two_datasets, "b_sampled")
    assert len(drawn) == 15 and set(drawn[:10]) == {f"b{i}" for i in range(10)}
    assert drawn == texts(two_datasets, "b_sampled")


def test_interleave_under_round_robin_stops_when_the_smallest_runs_out(two_datasets):
    assert texts(two_datasets, "a,b", mix_strategy="interleave_under") == ["a0", "b0", "a1", "b1", "a2", "b2", "a3"]


def test_interleave_over_restarts_until_every_dataset_is_used_up(two_datasets):
    mixed = texts(two_datasets, "a,b", mix_strategy="interleave_over")
    assert len(mixed) == 20 and mixed[:4] == ["a0", "b0", "a1", "b1"] and mixed[8] == "a0"
    assert {f"b{i}" for i in range(10)} <= set(mixed)


def test_interleave_probs_weight_the_choice_reproducibly(two_datasets):
    mixed = texts(two_datasets, "a,b", mix_strategy="interleave_over", interleave_probs="0.2,0.8")
    assert mixed == texts(two_datasets, "a,b", mix_strategy="interleave_over", interleave_probs="0.2,0.8")
    counts = Counter(text[0] for text in mixed)
    assert counts["b"] > counts["a"] and all(f"b{i}" in mixed for i in range(10))


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ("0.5", "interleave_probs has 1 values but 2 datasets are mixed"),
        ("0.5,0.2", "must be non-negative and sum to 1"),
        ("half,half", "must be comma-separated numbers"),
        ("1,0", "every interleave_probs value must be above 0"),
    ],
)
def test_bad_interleave_probs_name_the_key(two_datasets, probs, message):
    with pytest.raises(ConfigError, match=message):
        texts(two_datasets, "a,b", mix_strategy="interleave_over", interleave_probs=probs)


def test_split_fraction_rounds_up_and_is_reproducible():
    examples = numbered("x", 10)
    train, evaluation = split_train_eval(examples, 0.25, seed=3)
    assert (len(train), len(evaluation)) == (7, 3)
    assert sorted(train + evaluation, key=lambda example: int(example["text"][1:])) == examples
    assert split_train_eval(examples, 0.25, seed=3) == (train, evaluation)
    assert split_train_eval(examples, 0.25, seed=4) != (train, evaluation)


def test_split_count_and_zero():
    train, evaluation = split_train_eval(numbered("x", 10), 4)
    assert (len(train), len(evaluation)) == (6, 4)
    assert split_train_eval(numbered("x", 3), 0) == (numbered("x", 3), [])


@pytest.mark.parametrize(("val_size", "message"), [(10, "leaving none to train on"), (2.5, "a fraction below 1 or a whole number")])
def test_split_that_cannot_work_names_val_size(val_size, message):
    with pytest.raises(ConfigError, match=f"val_size {val_size} .*{message}"):
        split_train_eval(numbered("x", 10), val_size)


def test_eval_dataset_loads_separately_from_training_data():
    args = DataArgs(dataset_dir=str(PROJECT_DATA), dataset="identity", eval_dataset="instruct_demo")
    train = load_examples(args, args.dataset, "sft")
    evaluation = load_examples(args, args.eval_dataset, "sft")
    assert (len(train), len(evaluation)) == (70, 99)
    assert evaluation[0]["source"].startswith("instruct_demo.json#")
