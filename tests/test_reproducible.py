"""Same config and seed give the same losses; a resumed run continues exactly where the uninterrupted one went.

Real training subprocesses on the built-in tiny model (a few seconds each).
"""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHORT_RUN = ("examples/tiny_lora_sft.yaml", "max_steps=10", "logging_steps=1", "save_steps=5", "seed=42", "lora_dropout=0.1")


def train(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workflows", "train", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def losses(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]
    return {row["current_steps"]: row["loss"] for row in rows if "loss" in row}


def test_two_runs_with_the_same_seed_log_identical_losses(tiny_model_dir, tmp_path):
    # dropout on the adapters makes the seed matter twice: for the LoRA weights and for every step
    train(*SHORT_RUN, f"output_dir={tmp_path / 'first'}")
    train(*SHORT_RUN, f"output_dir={tmp_path / 'second'}")
    first, second = losses(tmp_path / "first"), losses(tmp_path / "second")
    assert len(first) == 10 and first == second


def test_a_resumed_run_reproduces_the_uninterrupted_runs_later_losses(tiny_model_dir, tmp_path):
    uninterrupted, resumed = tmp_path / "whole", tmp_path / "resumed"
    train(*SHORT_RUN, f"output_dir={uninterrupted}")
    train(*SHORT_RUN, f"output_dir={resumed}", f"resume_from_checkpoint={uninterrupted / 'checkpoint-5'}")
    expected, got = losses(uninterrupted), losses(resumed)
    assert sorted(got) == [6, 7, 8, 9, 10]
    assert all(abs(got[step] - expected[step]) <= 1e-4 for step in got), (got, expected)
