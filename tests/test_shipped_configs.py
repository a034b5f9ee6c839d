"""Every config under examples/ loads through the schema and renders its data (torchtune and litgpt test theirs too)."""

from pathlib import Path

import pytest

from workflows.config import BUILTIN_TINY_MODEL, load_config
from workflows.features.preview import preview_examples

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((PROJECT_ROOT / "examples").glob("*.yaml"))


def test_there_are_examples_to_check():
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_loads_and_its_data_renders(path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)  # dataset_dir: data is relative, as when a user runs the example
    config = load_config(path)
    assert config.data.dataset, "an example names its data"
    # No model hub here: a hub model is swapped for the built-in one, which keeps the example's template and data.
    if config.model.model_name_or_path != BUILTIN_TINY_MODEL:
        config = config.replace(model_name_or_path=BUILTIN_TINY_MODEL)
    records = preview_examples(config.replace(max_samples=2))
    assert records and all(record["input_ids"] for record in records)
    if config.finetuning.stage == "sft":
        assert all(any(label != -100 for label in record["labels"]) for record in records), "answers are trained on"
