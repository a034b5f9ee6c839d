"""Every supported file type reads into the same records; unreadable files fail naming the file."""

import json
from pathlib import Path

import pandas as pd
import pytest

from workflows.config.schema import DataArgs
from workflows.data import load_examples
from workflows.errors import DatasetError

RECORDS = [
    {"instruction": "Add 2 and 3.", "input": "", "output": "5"},
    {"instruction": "Translate to French.", "input": "Thank you", "output": "Merci"},
]
EXPECTED = [
    [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}],
    [{"role": "user", "content": "Translate to French.\nThank you"}, {"role": "assistant", "content": "Merci"}],
]


def register(dataset_dir: Path, file_name: str, **entry) -> DataArgs:
    (dataset_dir / "dataset_info.json").write_text(json.dumps({"d": {"file_name": file_name, **entry}}))
    return DataArgs(dataset_dir=str(dataset_dir))


@pytest.mark.parametrize(
    ("file_name", "write"),
    [
        ("d.json", lambda path: path.write_text(json.dumps(RECORDS))),
        ("d.jsonl", lambda path: path.write_text("\n".join(json.dumps(record) for record in RECORDS) + "\n\n")),
        ("d.csv", lambda path: pd.DataFrame(RECORDS).to_csv(path, index=False)),
        ("d.parquet", lambda path: pd.DataFrame(RECORDS).to_parquet(path)),
    ],
)
def test_each_file_type_gives_the_same_examples(tmp_path, file_name, write):
    write(tmp_path / file_name)
    examples = load_examples(register(tmp_path, file_name), "d", "sft")
    assert [example["messages"] for example in examples] == EXPECTED
    assert [example["source"] for example in examples] == [f"{file_name}#0", f"{file_name}#1"]


def test_parquet_nested_conversations_become_plain_lists(tmp_path):
    frame = pd.DataFrame({"conversations": [[{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]]})
    frame.to_parquet(tmp_path / "chat.parquet")
    args = register(tmp_path, "chat.parquet", formatting="sharegpt")
    assert load_examples(args, "d", "sft")[0]["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_txt_gives_one_text_per_non_empty_line(tmp_path):
    (tmp_path / "corpus.txt").write_text("First document.\n\n  Second document.  \n")
    examples = load_examples(register(tmp_path, "corpus.txt"), "d", "pt")
    assert examples == [
        {"text": "First document.", "source": "corpus.txt#0"},
        {"text": "Second document.", "source": "corpus.txt#1"},
    ]


def test_folder_reads_its_files_in_name_order(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "b.jsonl").write_text(json.dumps(RECORDS[1]) + "\n")
    (tmp_path / "parts" / "a.json").write_text(json.dumps(RECORDS[:1]))
    examples = load_examples(register(tmp_path, "parts"), "d", "sft")
    assert [example["source"] for example in examples] == ["parts/a.json#0", "parts/b.jsonl#0"]


def test_unsupported_file_type_fails(tmp_path):
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(
        DatasetError, match=r"Cannot read .*d.xlsx: unsupported file type `.xlsx`; use one of .json, .jsonl, .csv, .parquet, .txt"
    ):
        load_examples(register(tmp_path, "d.xlsx"), "d", "sft")


def test_non_utf8_file_fails_with_advice(tmp_path):
    (tmp_path / "d.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"d.txt is not UTF-8 text \(byte 3\): save it as UTF-8"):
        load_examples(register(tmp_path, "d.txt"), "d", "pt")


def test_empty_file_fails_instead_of_giving_no_examples(tmp_path):
    (tmp_path / "d.json").write_text("[]")
    with pytest.raises(DatasetError, match=r"Dataset `d` \(.*d.json\) holds no records"):
        load_examples(register(tmp_path, "d.json"), "d", "sft")
