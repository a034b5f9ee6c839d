"""`chat`, `predict` and `webchat` as a user runs them: subprocesses on the built-in tiny model."""

import json
import os
import subprocess
import sys
import time

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


def test_predict_is_a_job_writing_one_line_per_example(tiny_model_dir, tmp_path):
    result = run_cli("predict", "dataset=identity", "max_samples=5", "per_device_eval_batch_size=2", f"output_dir={tmp_path}", *GREEDY)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5
    assert all(set(record) == {"prompt", "predict", "label"} for record in records)
    assert records[0]["prompt"] == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    assert records[0]["label"].startswith("I am LlamaBoard Assistant")
    # the run-directory contract every job keeps: status, config, progress rows (batches of 2: 0, 2, 4, 5 of 5), log
    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["kind"], status["state"], status["exit_code"]) == ("predict", "finished", 0)
    assert "dataset: identity" in (tmp_path / "run.yaml").read_text()
    progress = [json.loads(line) for line in (tmp_path / "trainer_log.jsonl").read_text().splitlines()]
    assert [(row["current_steps"], row["total_steps"]) for row in progress] == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert progress[-1]["percentage"] == 100.0
    assert "Wrote 5 predictions" in (tmp_path / "running_log.txt").read_text()
    # scores: one line per prediction, and LLaMA-Factory's averaged names
    from workflows.eval.metrics import similarity_scores

    scores = [json.loads(line) for line in (tmp_path / "predict_scores.jsonl").read_text().splitlines()]
    assert scores == [similarity_scores(record["predict"], record["label"]) for record in records]
    results = json.loads((tmp_path / "predict_results.json").read_text())
    assert results["predict_bleu-4"] == round(sum(row["bleu-4"] for row in scores) / 5, 4)
    assert {"predict_rouge-1", "predict_rouge-2", "predict_rouge-l", "predict_samples_per_second"} <= set(results)
    assert results["predict_samples"] == 5 and results["complete"] is True


def test_predict_without_a_dataset_is_a_user_error(tiny_model_dir, tmp_path):
    result = run_cli("predict", f"output_dir={tmp_path}")
    assert result.returncode == 2 and "set `eval_dataset` (or `dataset`)" in result.stderr and "Traceback" not in result.stderr


def test_predict_without_reference_answers_is_a_user_error_naming_the_column(tiny_model_dir, tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"questions": {"file_name": "questions.json"}}))
    (tmp_path / "questions.json").write_text(json.dumps([{"instruction": "Who are you?"}]))
    result = run_cli("predict", "eval_dataset=questions", f"dataset_dir={tmp_path}", f"output_dir={tmp_path / 'out'}", *GREEDY)
    assert result.returncode == 2 and "column `output` (columns.response) is not in questions.json" in result.stderr
    assert not (tmp_path / "out" / "predict_results.json").exists() and not (tmp_path / "out" / "generated_predictions.jsonl").exists()


def test_webchat_page_answers_through_gradio(tiny_model_dir, tmp_path):
    from gradio_client import Client

    from workflows.api.process import free_port

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SHARE", None)
    log = (tmp_path / "webchat.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "workflows", "webchat", *GREEDY], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # not up yet: gradio_client raises several kinds while the server starts
                time.sleep(0.5)
        assert process.poll() is None, (tmp_path / "webchat.log").read_text()
        answer = client.predict("Who are you?", "", api_name="/chat")
        assert isinstance(answer, str) and answer
        printed = (tmp_path / "webchat.log").read_text()
        assert f"LlamaBoard chat is running on http://127.0.0.1:{port}" in printed and "share=True" not in printed
    finally:
        process.terminate()
        process.wait(timeout=30)
