"""Conversion of real files to the internal example format, and the reasons bad records are dropped."""

import json
import logging
from pathlib import Path

import pytest

from workflows.config.schema import DataArgs
from workflows.data import load_examples
from workflows.errors import DatasetError

PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"
SHAREGPT = {"formatting": "sharegpt", "columns": {"messages": "conversations"}}


def project_args(**overrides) -> DataArgs:
    return DataArgs(dataset_dir=str(PROJECT_DATA), **overrides)


def load_file(tmp_path: Path, entry: dict, records, stage: str = "sft", file_name: str = "d.json") -> list[dict]:
    """Register `records` as dataset `d` in a fresh dataset_dir and load it."""
    (tmp_path / file_name).write_text(records if isinstance(records, str) else json.dumps(records), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {"file_name": file_name, **entry}}))
    return load_examples(DataArgs(dataset_dir=str(tmp_path)), "d", stage)


def turns(*pairs: tuple[str, str]) -> list[dict]:
    return [{"from": role, "value": value} for role, value in pairs]


# --- our own demo data ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stage", "count"),
    [
        ("identity", "sft", 70),
        ("instruct_demo", "sft", 99),
        ("chat_demo", "sft", 30),
        ("chat_openai_demo", "sft", 20),
        ("pretrain_demo", "pt", 200),
        ("pretrain_demo_jsonl", "pt", 50),
        ("preference_demo", "dpo", 30),
        ("preference_demo", "rm", 30),
        ("kto_demo", "kto", 30),
    ],
)
def test_project_demo_sets_load_completely(name, stage, count):
    assert len(load_examples(project_args(), name, stage)) == count


def test_identity_placeholders_are_filled_from_config():
    examples = load_examples(project_args(identity_name="Ada", identity_author="Acme Labs"), "identity", "sft")
    who = [example for example in examples if example["messages"][0]["content"] == "Who are you?"]
    assert len(who) >= 5 and all(example["messages"][1]["content"].startswith("I am Ada") for example in who)
    assert examples[0]["source"] == "identity.json#0"
    assert not any("{{" in message["content"] for example in examples for message in example["messages"])
    assert sum("Acme Labs" in example["messages"][1]["content"] for example in examples) > 60


def test_alpaca_input_joins_instruction_and_system_column_leads():
    examples = load_examples(project_args(), "instruct_demo", "sft")
    translate = next(example for example in examples if example["messages"][0]["content"].startswith("Translate the sentence into French"))
    assert translate["messages"] == [
        {"role": "user", "content": "Translate the sentence into French.\nThe cat is sleeping on the sofa."},
        {"role": "assistant", "content": "Le chat dort sur le canapé."},
    ]
    with_system = [example for example in examples if example["messages"][0]["role"] == "system"]
    assert len(with_system) == 5
    assert with_system[0]["messages"][0]["content"] == "You are a calculator. Reply with the result only."


def test_default_system_fills_only_examples_without_one():
    examples = load_examples(project_args(default_system="Be brief."), "instruct_demo", "sft")
    systems = [example["messages"][0]["content"] for example in examples]
    assert systems.count("Be brief.") == 94 and "You are a calculator. Reply with the result only." in systems


def test_sharegpt_tool_calls_keep_function_call_and_observation_turns():
    examples = load_examples(project_args(), "chat_demo", "sft")
    weather = next(example for example in examples if example["tools"])
    assert [message["role"] for message in weather["messages"]] == [
        "user",
        "function_call",
        "observation",
        "assistant",
        "user",
        "function_call",
        "observation",
        "assistant",
    ]
    assert json.loads(weather["messages"][1]["content"])["name"] == "get_current_weather"
    assert json.loads(weather["tools"])[0]["name"] == "get_current_weather"
    assert sum(example["tools"] is not None for example in examples) == 3
    assert sum(example["messages"][0]["role"] == "system" for example in examples) == 2


def test_openai_messages_keep_the_system_prompt():
    example = load_examples(project_args(), "chat_openai_demo", "sft")[0]
    assert example["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert example["source"] == "chat_openai_demo.jsonl#0"


def test_pretrain_text_comes_from_lines_and_alpaca_pairs():
    lines = load_examples(project_args(), "pretrain_demo", "pt")
    assert lines[0] == {"text": lines[0]["text"], "source": "pretrain_demo.txt#0"}
    assert lines[0]["text"].startswith("The harbour town woke slowly.")
    identity = load_examples(project_args(identity_name="Ada"), "identity", "pt")[0]
    assert identity["text"].startswith("Who are you?\nI am Ada")


def test_preference_and_kto_examples():
    pair = load_examples(project_args(), "preference_demo", "dpo")[0]
    assert pair["messages"] == [{"role": "user", "content": "What is the capital of Australia?"}]
    assert pair["chosen"] == {"role": "assistant", "content": "The capital of Australia is Canberra."}
    assert pair["rejected"]["content"] == "The capital of Australia is Sydney."
    kto = load_examples(project_args(), "kto_demo", "kto")
    assert [example["kto_tag"] for example in kto].count(True) == 15
    assert kto[1]["messages"][-1]["role"] == "assistant" and kto[1]["kto_tag"] is False


# --- LLaMA-Factory's demo files, unchanged --------------------------------------------


@pytest.mark.parametrize(
    ("name", "stage", "count"),
    [
        ("identity", "sft", 91),
        ("alpaca_en_demo", "sft", 999),
        ("alpaca_zh_demo", "sft", 1000),
        ("glaive_toolcall_en_demo", "sft", 300),
        ("glaive_toolcall_zh_demo", "sft", 300),
        ("dpo_en_demo", "dpo", 300),
        ("dpo_zh_demo", "rm", 300),
        ("kto_en_demo", "kto", 300),
        ("c4_demo", "pt", 300),
        ("wiki_demo", "pt", 30),
    ],
)
def test_llamafactory_demo_sets_load_unchanged(fixtures_dir, caplog, name, stage, count):
    args = DataArgs(dataset_dir=str(fixtures_dir / "llamafactory" / "data"))
    assert len(load_examples(args, name, stage)) == count
    assert "Dropped" not in caplog.text


def test_llamafactory_examples_convert_faithfully(fixtures_dir):
    args = DataArgs(dataset_dir=str(fixtures_dir / "llamafactory" / "data"), identity_name="Ada", identity_author="Acme")
    identity = load_examples(args, "identity", "sft")[0]
    assert identity["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello! I am Ada, an AI assistant developed by Acme. How can I assist you today?"},
    ]
    glaive = load_examples(args, "glaive_toolcall_en_demo", "sft")[0]
    assert [message["role"] for message in glaive["messages"]][:6] == [
        "user",
        "assistant",
        "user",
        "function_call",
        "observation",
        "assistant",
    ]
    assert json.loads(glaive["tools"])[0]["name"] == "search_recipes"
    dpo = load_examples(args, "dpo_en_demo", "dpo")
    assert sum(example["messages"][0]["role"] == "system" for example in dpo) == 80
    assert all(example["messages"][-1]["role"] == "user" for example in dpo)
    kto = load_examples(args, "kto_en_demo", "kto")[0]
    assert kto["kto_tag"] is True and kto["messages"][-1]["content"].startswith("Ooh ooh ah ah!")
    wiki = load_examples(args, "wiki_demo", "pt")[0]
    assert wiki["text"].startswith("Anarchism is a political philosophy") and wiki["source"] == "wiki_demo.txt#0"


# --- bad records are dropped with file#index and reason --------------------------------

GOOD_ALPACA = {"instruction": "Say hi.", "input": "", "output": "Hi!"}
GOOD_SHAREGPT = {"conversations": turns(("human", "Hi"), ("gpt", "Hello!"))}


@pytest.mark.parametrize(
    ("entry", "good", "bad", "stage", "reason"),
    [
        ({}, GOOD_ALPACA, {"instruction": "Say hi.", "input": "", "output": "  "}, "sft", "empty answer"),
        ({}, GOOD_ALPACA, {"instruction": "Say hi.", "input": ""}, "sft", "missing `output` (columns.response)"),
        ({}, GOOD_ALPACA, ["Say hi.", "Hi!"], "sft", "the record is list, not a JSON object"),
        ({}, GOOD_ALPACA, {"instruction": 3, "output": "x"}, "sft", "`instruction` is int, not a string"),
        (
            {"columns": {"history": "history"}},
            GOOD_ALPACA,
            {**GOOD_ALPACA, "history": [["only one"]]},
            "sft",
            "`history` item 0 is not an [instruction, response] pair",
        ),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": turns(("human", "a"), ("human", "b"))},
            "sft",
            "turn 1 is `user` right after `user`; user-side (user, observation) and assistant-side (assistant, function_call) "
            "turns must alternate",
        ),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": turns(("gpt", "Hello"), ("human", "Hi"))},
            "sft",
            "the conversation starts with `assistant`; the first turn must be the user's",
        ),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": turns(("human", "a"), ("gpt", "b"), ("human", "c"))},
            "sft",
            "the conversation ends with a `user` turn (odd number of turns); the last turn must be the assistant's answer",
        ),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": turns(("human", "a"), ("bot", "b"))},
            "sft",
            "message 1 has unknown role tag `bot` under `from` (expected one of human, gpt, observation, function_call, system)",
        ),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": 42}]},
            "sft",
            "turn 1 (`assistant`) content is int, not a string",
        ),
        (SHAREGPT, GOOD_SHAREGPT, {"conversations": []}, "sft", "empty messages"),
        (SHAREGPT, GOOD_SHAREGPT, {"conversations": "hi"}, "sft", "`conversations` is str, not a list of messages"),
        (
            SHAREGPT,
            GOOD_SHAREGPT,
            {"conversations": turns(("human", "a"), ("system", "b"))},
            "sft",
            "message 1 is a system message; only the first message may be one",
        ),
        (SHAREGPT, GOOD_SHAREGPT, {"conversations": turns(("human", ""), ("gpt", "b"))}, "sft", "turn 0 (`user`) is empty"),
        (
            {"columns": {"system": "system"}},
            GOOD_ALPACA,
            {**GOOD_ALPACA, "system": ["be nice"]},
            "sft",
            "the system prompt is list, not a string",
        ),
        (
            {**SHAREGPT, "columns": {"messages": "conversations", "kto_tag": "label"}},
            {**GOOD_SHAREGPT, "label": True},
            {**GOOD_SHAREGPT, "label": "yes"},
            "kto",
            "`label` (columns.kto_tag) is 'yes'; it must be true or false",
        ),
        (
            {"ranking": True, "columns": {"chosen": "chosen", "rejected": "rejected"}},
            {"instruction": "q", "chosen": "good", "rejected": "bad"},
            {"instruction": "q", "chosen": "", "rejected": "bad"},
            "dpo",
            "empty chosen answer",
        ),
        (
            {**SHAREGPT, "ranking": True, "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
            {"conversations": turns(("human", "q")), "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
            {
                "conversations": turns(("human", "q"), ("gpt", "a")),
                "chosen": {"from": "gpt", "value": "a"},
                "rejected": {"from": "gpt", "value": "b"},
            },
            "dpo",
            "the prompt ends with an `assistant` turn; in a ranking example it must end with the user's turn",
        ),
        (
            {**SHAREGPT, "ranking": True, "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
            {"conversations": turns(("human", "q")), "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
            {"conversations": turns(("human", "q")), "chosen": {"from": "human", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
            "dpo",
            "the chosen answer has role `user`; it must be the assistant's",
        ),
    ],
)
def test_bad_record_is_dropped_with_file_index_and_reason(tmp_path, caplog, entry, good, bad, stage, reason):
    with caplog.at_level(logging.WARNING, logger="workflows.data"):
        examples = load_file(tmp_path, entry, [good, bad, good], stage)
    assert [example["source"] for example in examples] == ["d.json#0", "d.json#2"]
    assert f"Dropped d.json#1: {reason}" in caplog.text
    assert "Dataset `d`: dropped 1 of 3 records." in caplog.text


def test_many_bad_records_are_listed_up_to_a_limit(tmp_path, caplog):
    records = [GOOD_ALPACA] + [{"instruction": "x", "output": ""}] * 30
    with caplog.at_level(logging.WARNING, logger="workflows.data"):
        load_file(tmp_path, {}, records)
    assert caplog.text.count("Dropped d.json#") == 20
    assert "dropped 30 of 31 records (the first 20 are listed above)" in caplog.text


def test_openai_tool_calls_and_parallel_results(tmp_path):
    record = {
        "messages": [
            {"role": "user", "content": "Weather in Oslo and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
                    {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}},
                ],
            },
            {"role": "tool", "content": "3 C"},
            {"role": "tool", "content": "19 C"},
            {"role": "assistant", "content": "Oslo 3 C, Rome 19 C."},
        ],
        "tools": [{"name": "weather"}],
    }
    example = load_file(tmp_path, {"formatting": "openai", "columns": {"messages": "messages", "tools": "tools"}}, [record])[0]
    assert [message["role"] for message in example["messages"]] == ["user", "function_call", "observation", "assistant"]
    assert [call["name"] for call in json.loads(example["messages"][1]["content"])] == ["weather", "weather"]
    assert json.loads(example["messages"][2]["content"]) == ["3 C", "19 C"]
    assert json.loads(example["tools"]) == [{"name": "weather"}]


# --- whole datasets that cannot be used fail --------------------------------------------


def test_dataset_without_any_valid_record_fails(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"Dataset `d` \(.*d.json\) has no usable record for stage sft: all 2 were dropped; the first because d.json#0: empty answer",
    ):
        load_file(tmp_path, {}, [{"instruction": "a", "output": ""}, {"instruction": "b", "output": ""}])


def test_missing_column_names_column_and_dataset_info_key(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"entry `d` of .*dataset_info.json: column `question` \(columns.prompt\) is not in d.json; its records have: answer",
    ):
        load_file(tmp_path, {"columns": {"prompt": "question", "response": "answer"}}, [{"answer": "x"}])


def test_bad_json_file_names_file_line_and_column(tmp_path):
    with pytest.raises(DatasetError, match=r"d.json is not valid JSON: Expecting ',' delimiter at line 2, column 3"):
        load_file(tmp_path, {}, '[{"instruction": "a", "output": "b"}\n  {"instruction": "c"}]')


def test_bad_jsonl_line_is_reported_with_its_line_number(tmp_path):
    text = '{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": }\n'
    with pytest.raises(DatasetError, match=r"d.jsonl is not valid JSON: Expecting value at line 3, column 32"):
        load_file(tmp_path, {}, text, file_name="d.jsonl")


def test_json_file_that_is_not_a_list_fails(tmp_path):
    with pytest.raises(DatasetError, match="d.json must hold a JSON list of records, not a dict"):
        load_file(tmp_path, {}, {"instruction": "a", "output": "b"})


@pytest.mark.parametrize(
    ("entry", "stage", "message"),
    [
        ({}, "dpo", "Dataset `d` has no chosen/rejected pairs, which stage `dpo` needs"),
        (
            {"ranking": True, "columns": {"chosen": "c", "rejected": "r"}},
            "sft",
            "holds chosen/rejected pairs (ranking): use it with stage rm or dpo, not `sft`",
        ),
        ({}, "kto", "Dataset `d` has no `kto_tag` column, which stage kto needs"),
        ({"columns": {"kto_tag": "label"}}, "sft", "is a KTO dataset"),
    ],
)
def test_dataset_that_does_not_suit_the_stage_fails(tmp_path, entry, stage, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_file(tmp_path, entry, [GOOD_ALPACA], stage)
