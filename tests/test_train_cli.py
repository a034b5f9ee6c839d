"""`python -m workflows train` as a user runs it: real subprocesses, real run directories."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from train_process import abort_after_first_log

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRAINER_LOG_FIELDS = {
    "current_steps",
    "total_steps",
    "loss",
    "lr",
    "epoch",
    "percentage",
    "elapsed_time",
    "remaining_time",
    "throughput",
    "total_tokens",
}


def train(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows", "train", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def log_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]


def status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_tiny_lora_sft_leaves_every_file_of_the_run_directory_contract(tmp_path):
    run_dir = tmp_path / "run"
    result = train("examples/tiny_lora_sft.yaml", f"output_dir={run_dir}", "max_steps=20", "save_steps=10")
    assert result.returncode == 0, result.stderr[-3000:]

    for name in (
        "run.yaml",
        "running_log.txt",
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "train_results.json",
        "all_results.json",
        "trainer_state.json",
        "training_loss.png",
        "provenance.json",
    ):
        assert (run_dir / name).is_file(), f"{name} missing from the run directory"
    assert (run_dir / "checkpoint-10").is_dir() and (run_dir / "checkpoint-20").is_dir()

    state = status(run_dir)
    assert state["state"] == "finished" and state["exit_code"] == 0 and state["error"] is None and state["end_time"]

    lines = log_lines(run_dir)
    train_lines = [line for line in lines if "loss" in line]
    assert TRAINER_LOG_FIELDS <= set(train_lines[0])
    assert [line["current_steps"] for line in train_lines] == [1, 5, 10, 15, 20]
    assert train_lines[-1]["total_steps"] == 20 and train_lines[-1]["percentage"] == 100.0
    assert train_lines[-1]["total_tokens"] > train_lines[0]["total_tokens"] > 0
    assert train_lines[-1]["loss"] < train_lines[0]["loss"], "the tiny model should learn something in 20 steps"

    resolved = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert resolved["output_dir"] == str(run_dir) and resolved["max_steps"] == 20 and resolved["lora_rank"] == 8
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["versions"]["transformers"] and provenance["command"][-1] == "save_steps=10"
    assert any(path.endswith("identity.json") for path in provenance["dataset_files_sha256"])
    assert "step 20/20" in (run_dir / "running_log.txt").read_text()


def test_llamafactory_demo_data_trains_unchanged(tmp_path, fixtures_dir):
    run_dir = tmp_path / "lf"
    result = train(
        "examples/tiny_lora_sft.yaml",
        f"output_dir={run_dir}",
        "max_steps=4",
        "save_steps=4",
        f"dataset_dir={fixtures_dir / 'llamafactory' / 'data'}",
        "dataset=identity,alpaca_en_demo",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert status(run_dir)["state"] == "finished"
    assert (run_dir / "adapter_model.safetensors").is_file()


def test_resume_reproduces_the_uninterrupted_losses(tmp_path):
    settings = [
        "examples/tiny_lora_sft.yaml",
        "max_steps=12",
        "save_steps=6",
        "logging_steps=1",
        "lr_scheduler_type=constant",
        "warmup_ratio=0",
    ]
    whole = tmp_path / "whole"
    assert train(*settings, f"output_dir={whole}").returncode == 0

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(whole / "checkpoint-6", resumed / "checkpoint-6")
    (resumed / "trainer_log.jsonl").write_text((whole / "trainer_log.jsonl").read_text())  # includes steps 7-12, to be dropped
    result = train(*settings, f"output_dir={resumed}", "resume_from_checkpoint=true")
    assert result.returncode == 0, result.stderr[-3000:]

    assert [line["current_steps"] for line in log_lines(resumed)] == list(range(1, 13))
    # flat lists: pytest.approx compares the items of nested tuples exactly, without the tolerance
    expected, actual = ([line["loss"] for line in log_lines(run_dir)] for run_dir in (whole, resumed))
    assert actual == pytest.approx(expected, abs=1e-4)


def test_sigterm_saves_a_checkpoint_marks_aborted_and_the_run_resumes(tmp_path):
    run_dir = tmp_path / "stopped"
    command = ["examples/tiny_lora_sft.yaml", f"output_dir={run_dir}", "max_steps=100000", "save_steps=100000", "logging_steps=1"]
    assert abort_after_first_log(command, run_dir, exit_within_s=30) < 15
    state = status(run_dir)
    assert state["state"] == "aborted" and "SIGTERM" in state["error"]
    checkpoints = sorted(run_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 1
    stopped_at = int(checkpoints[0].name.split("-")[1])

    result = train(
        "examples/tiny_lora_sft.yaml",
        f"output_dir={run_dir}",
        f"max_steps={stopped_at + 3}",
        "logging_steps=1",
        "save_steps=100000",
        "resume_from_checkpoint=true",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert status(run_dir)["state"] == "finished"
    assert [line["current_steps"] for line in log_lines(run_dir)][-3:] == [stopped_at + 1, stopped_at + 2, stopped_at + 3]


def test_bad_dataset_fails_with_a_clear_message_and_keeps_the_log(tmp_path):
    run_dir = tmp_path / "bad"
    result = train("examples/tiny_lora_sft.yaml", f"output_dir={run_dir}", "dataset=identity,no_such_set")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no_such_set" in result.stderr and "dataset_info.json" in result.stderr
    state = status(run_dir)
    assert state["state"] == "failed" and "no_such_set" in state["error"]
    assert "no_such_set" in (run_dir / "running_log.txt").read_text()


def test_a_finished_run_is_not_overwritten_by_accident(tmp_path):
    run_dir = tmp_path / "done"
    assert train("examples/tiny_lora_sft.yaml", f"output_dir={run_dir}", "max_steps=2", "save_steps=2").returncode == 0
    result = train("examples/tiny_lora_sft.yaml", f"output_dir={run_dir}", "max_steps=2", "overwrite_output_dir=false")
    assert result.returncode == 2 and "already holds a finished train job" in result.stderr
