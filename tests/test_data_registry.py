"""dataset_info.json parsing: LLaMA-Factory's file works unchanged, broken entries fail with one clear message."""

import json
from pathlib import Path

import pytest

from workflows.config.schema import DataArgs
from workflows.data import dataset_files, load_examples, read_dataset_info
from workflows.errors import DatasetError

PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"


def write_info(dataset_dir: Path, info) -> Path:
    dataset_dir.mkdir(parents=True, exist_ok=True)
    path = dataset_dir / "dataset_info.json"
    path.write_text(info if isinstance(info, str) else json.dumps(info), encoding="utf-8")
    return path


def test_project_registry_lists_every_demo_dataset_with_its_format():
    registry = read_dataset_info(PROJECT_DATA)
    assert list(registry) == [
        "identity",
        "instruct_demo",
        "chat_demo",
        "chat_openai_demo",
        "pretrain_demo",
        "pretrain_demo_jsonl",
        "preference_demo",
        "kto_demo",
        "dpo_demo",
        "dpo_demo_eval",
        "dpo_demo_sft",
        "kto_pairs_demo",
    ]
    assert registry["chat_demo"].formatting == "sharegpt"
    assert registry["chat_demo"].columns == {"messages": "conversations", "tools": "tools"}
    assert registry["chat_demo"].tags["role_tag"] == "from"
    assert registry["preference_demo"].ranking
    assert registry["identity"].columns == {"prompt": "instruction", "query": "input", "response": "output"}


def test_llamafactory_registry_parses_unchanged(fixtures_dir):
    registry = read_dataset_info(fixtures_dir / "llamafactory" / "data")
    assert len(registry) > 50
    dpo = registry["dpo_en_demo"]
    assert (dpo.ranking, dpo.formatting, dpo.columns["chosen"]) == (True, "sharegpt", "chosen")
    kto = registry["kto_en_demo"]
    assert (kto.columns["kto_tag"], kto.tags["role_tag"], kto.tags["user_tag"]) == ("label", "role", "user")
    assert registry["alpaca_en"].file_name is None and registry["alpaca_en"].remote["hf_hub_url"] == "llamafactory/alpaca_en"
    assert registry["starcoder_python"].folder == "python"
    assert registry["ultrachat_200k"].split == "train_sft"


def test_hub_only_dataset_says_to_download_it(fixtures_dir):
    args = DataArgs(dataset_dir=str(fixtures_dir / "llamafactory" / "data"))
    with pytest.raises(
        DatasetError,
        match=r"Dataset `alpaca_en` comes from the Hugging Face hub \(hf_hub_url `llamafactory/alpaca_en`\), "
        r"which this machine cannot reach: "
        r"download the file and add a `file_name` entry",
    ) as err:
        load_examples(args, "alpaca_en", "sft")
    assert "pass a local file" in str(err.value)


@pytest.mark.parametrize("name", ["mllm_demo", "mllm_audio_demo", "mllm_video_demo", "mllm_video_audio_demo"])
def test_multimodal_datasets_are_refused_when_selected(fixtures_dir, name):
    args = DataArgs(dataset_dir=str(fixtures_dir / "llamafactory" / "data"))
    with pytest.raises(DatasetError, match=f"`{name}`.*images/videos/audios are not supported"):
        load_examples(args, name, "sft")


def test_bad_json_names_file_line_and_column(tmp_path):
    path = write_info(tmp_path, '{\n  "a": {"file_name": "a.json"},\n  "b": {"file_name": "b.json",}\n}')
    with pytest.raises(DatasetError, match=rf"{path} is not valid JSON: .* at line 3, column 31"):
        read_dataset_info(tmp_path)


def test_a_registry_that_is_not_utf8_says_so(tmp_path):
    (tmp_path / "dataset_info.json").write_bytes('{"données": {"file_name": "a.json"}}'.encode("latin-1"))
    with pytest.raises(DatasetError, match="dataset_info.json is not UTF-8 text .*save it as UTF-8"):
        read_dataset_info(tmp_path)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (["file_name", "a.json"], "must be a JSON object, not a list"),
        ({"file_name": "a.json", "formatting": "chatml"}, "unknown formatting `chatml`; use one of alpaca, sharegpt, openai"),
        ({"formatting": "sharegpt"}, "names no data: add `file_name`"),
        ({"file_name": "a.json", "ranking": "yes"}, "`ranking` must be a bool, not a string"),
        ({"file_name": "a.json", "num_samples": 0}, "`num_samples` must be at least 1"),
        ({"file_name": "a.json", "columns": ["prompt"]}, "`columns` must be a JSON object, not a list"),
        ({"file_name": "a.json", "tags": {"role_tag": 1}}, "`tags.role_tag` must be a string, not a number"),
    ],
)
def test_broken_entry_names_file_entry_and_reason(tmp_path, entry, reason):
    path = write_info(tmp_path, {"good": {"file_name": "good.json"}, "broken": entry})
    with pytest.raises(DatasetError) as err:
        read_dataset_info(tmp_path)
    assert f"entry `broken` of {path}" in str(err.value)
    assert reason in str(err.value)


def test_registry_that_is_not_an_object_is_an_error(tmp_path):
    write_info(tmp_path, "[]")
    with pytest.raises(DatasetError, match="must hold a JSON object mapping dataset names to entries, not a list"):
        read_dataset_info(tmp_path)


def test_missing_registry_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=rf"{tmp_path / 'dataset_info.json'} does not exist"):
        read_dataset_info(tmp_path)


def test_typo_in_a_key_is_pointed_out(tmp_path, caplog):
    write_info(tmp_path, {"a": {"file_name": "a.json", "columns": {"promt": "q"}}})
    read_dataset_info(tmp_path)
    assert "unknown key `promt` is ignored (did you mean `prompt`?)" in caplog.text


def test_missing_data_file_names_entry_and_path(tmp_path):
    path = write_info(tmp_path, {"gone": {"file_name": "gone.json"}})
    with pytest.raises(DatasetError, match=rf"entry `gone` of {path} names `gone.json`, but {tmp_path / 'gone.json'} does not exist"):
        load_examples(DataArgs(dataset_dir=str(tmp_path)), "gone", "sft")


def test_unknown_dataset_name_suggests_the_nearest(tmp_path):
    write_info(tmp_path, {"identity": {"file_name": "identity.json"}})
    with pytest.raises(DatasetError, match="Dataset `identty` is not defined in .*dataset_info.json. Did you mean `identity`?"):
        load_examples(DataArgs(dataset_dir=str(tmp_path)), "identty", "sft")


def test_dataset_files_lists_files_and_folder_contents(tmp_path):
    write_info(tmp_path, {"one": {"file_name": "one.json"}, "many": {"file_name": "parts"}})
    (tmp_path / "one.json").write_text("[]")
    (tmp_path / "parts").mkdir()
    for name in ("b.jsonl", "a.json", "notes.md"):
        (tmp_path / "parts" / name).write_text("[]")
    files = dataset_files(DataArgs(dataset_dir=str(tmp_path)), "one, many")
    assert files == [tmp_path / "one.json", tmp_path / "parts" / "a.json", tmp_path / "parts" / "b.jsonl"]
