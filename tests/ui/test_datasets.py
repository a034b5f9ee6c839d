"""The Train tab's dataset list: what pt and sft are offered, and errors instead of an empty list."""

import pytest
from conftest import PROJECT_ROOT

from llamaboard.datasets import dataset_names
from workflows.errors import DatasetError


def test_preference_and_kto_sets_are_not_offered_to_pt_and_sft():
    names = dataset_names(PROJECT_ROOT / "data")
    assert {"identity", "instruct_demo", "chat_demo", "pretrain_demo"} <= set(names)
    assert "preference_demo" not in names and "kto_demo" not in names


def test_each_stage_is_offered_the_datasets_of_its_shape():
    """The stage registry decides: preference pairs for dpo and rm, KTO labels for kto, plain data for pt and sft."""
    assert set(dataset_names(PROJECT_ROOT / "data", "dpo")) == {"preference_demo", "dpo_demo", "dpo_demo_eval"}
    assert set(dataset_names(PROJECT_ROOT / "data", "rm")) == {"preference_demo", "dpo_demo", "dpo_demo_eval"}
    assert set(dataset_names(PROJECT_ROOT / "data", "kto")) == {"kto_demo", "kto_pairs_demo"}
    assert "dpo_demo_sft" in dataset_names(PROJECT_ROOT / "data", "ppo")  # ppo starts from conversations' prompts
    assert dataset_names(PROJECT_ROOT / "data", "pt") == dataset_names(PROJECT_ROOT / "data", "sft")


def test_llamafactory_registry_lists_its_sft_sets_without_its_dpo_and_kto_sets(fixtures_dir):
    names = dataset_names(fixtures_dir / "llamafactory" / "data")
    assert {"identity", "alpaca_en_demo", "glaive_toolcall_en_demo"} <= set(names)
    assert not {"dpo_en_demo", "kto_en_demo"} & set(names)


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"a": {"file_name": "a.json"},}', "is not valid JSON"),
        ("{}", "registers no datasets"),
        ('{"pairs": {"file_name": "p.json", "ranking": true}}', "no dataset that stage sft can train on"),
        ('{"a": {"formatting": "alpaca"}}', "entry `a` .* names no data"),
    ],
)
def test_a_broken_registry_is_an_error_that_says_why(tmp_path, content, reason):
    (tmp_path / "dataset_info.json").write_text(content)
    with pytest.raises(DatasetError, match=reason):
        dataset_names(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        dataset_names(tmp_path / "nowhere")
