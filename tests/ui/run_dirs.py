"""Hand-written run directories (real files, the engine's formats) for monitor and history tests."""

import json
import os
from pathlib import Path
from typing import Optional

import yaml


def log_line(step: int, total: int = 30, loss: Optional[float] = None, **extra) -> str:
    record = {
        "current_steps": step,
        "total_steps": total,
        "loss": 3.0 - step * 0.05 if loss is None else loss,
        "lr": 1e-4,
        "epoch": step / total,
        "percentage": round(100 * step / total, 2),
        "elapsed_time": "0:00:05",
        "remaining_time": "0:00:10",
        "throughput": 1500.0,
        "total_tokens": step * 200,
        **extra,
    }
    return json.dumps(record) + "\n"


def write_run(
    saves: Path,
    name: str,
    state: Optional[str],
    steps: int = 0,
    checkpoints: tuple[int, ...] = (),
    pid: Optional[int] = None,
    error: Optional[str] = None,
    model: str = "llamaboard-tiny",
) -> Path:
    run_dir = saves / model / "lora" / name
    run_dir.mkdir(parents=True)
    (run_dir / "run.yaml").write_text(
        yaml.safe_dump(
            {"model_name_or_path": model, "stage": "sft", "finetuning_type": "lora", "dataset": "identity", "output_dir": str(run_dir)}
        )
    )
    if state is not None:
        status = {
            "state": state,
            "pid": pid or os.getpid(),
            "start_time": "2025-01-02T03:04:05+00:00",
            "end_time": None,
            "exit_code": None,
            "error": error,
            "command": [],
        }
        (run_dir / "status.json").write_text(json.dumps(status))
    (run_dir / "trainer_log.jsonl").write_text("".join(log_line(step) for step in range(1, steps + 1)))
    for step in checkpoints:  # complete checkpoints: transformers writes trainer_state.json last
        (run_dir / f"checkpoint-{step}").mkdir()
        (run_dir / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return run_dir
