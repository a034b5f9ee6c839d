"""Same config and seed give the same losses (real training subprocesses on the built-in tiny model).

A resumed run reproducing the uninterrupted one is tested in test_train_cli.py.
"""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHORT_RUN = ("examples/tiny_lora_sft.yaml", "max_steps=6", "logging_steps=1", "save_steps=50", "seed=42", "lora_dropout=0.1")


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
    assert len(first) == 6 and first == second
