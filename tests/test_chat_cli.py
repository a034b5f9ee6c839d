"""`chat` and `predict` as a user runs them: subprocesses on the built-in tiny model."""

import json
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

GREEDY = ["do_sample=false", "max_new_tokens=8"]


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows", *args], cwd=PROJECT_ROOT, input=stdin, capture_output=True, text=True, timeout=180
    )


def test_terminal_chat_streams_clears_and_exits(tiny_model_dir):
    result = run_cli("chat", *GREEDY, stdin="Who are you?\nclear\nWho are you?\nexit\nnever read\n")
    assert result.returncode == 0, result.stderr
    answers = [line.split("Assistant: ", 1)[1] for line in result.stdout.splitlines() if "Assistant: " in line]
    assert len(answers) == 2 and answers[0] == answers[1] and answers[0]
    assert "History cleared." in result.stdout


def test_predict_writes_one_line_per_example(tiny_model_dir, tmp_path):
    result = run_cli("predict", "dataset=identity", "max_samples=5", "per_device_eval_batch_size=2", f"output_dir={tmp_path}", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert "predict: 100%" in result.stderr
    records = [json.loads(line) for line in (tmp_path / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5
    assert all(set(record) == {"prompt", "predict", "label"} for record in records)
    assert records[0]["prompt"] == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    assert records[0]["label"].startswith("I am LlamaBoard Assistant")


def test_predict_without_output_dir_is_a_user_error(tiny_model_dir):
    result = run_cli("predict", "dataset=identity")
    assert result.returncode == 2 and "output_dir" in result.stderr and "Traceback" not in result.stderr
