"""Trainer callbacks: the trainer_log.jsonl writer and the graceful stop."""

import json
import logging
import math
import time
from pathlib import Path
from typing import Optional

from transformers import TrainerCallback

from workflows.jobs import StopSignal, duration
from workflows.run_dir import RunDirectory

logger = logging.getLogger(__name__)


class TrainerLogCallback(TrainerCallback):
    """Appends one JSON line per logging step with LLaMA-Factory's field names, and watches the loss.

    The file is flushed every line so the UI, which tails it, sees progress
    live. A resumed run cuts the file back to its checkpoint's step only here,
    once training has actually restarted (a resume that fails earlier loses
    nothing), and continues the elapsed time from there. A loss that is not
    finite is logged as NaN (never as 0) and stops training: ``diverged_at``
    then holds the step, and the recipe fails the run with that message.
    """

    def __init__(self, run_dir: RunDirectory, metrics: tuple[str, ...] = ()):
        self.run_dir = run_dir
        self.metrics = metrics  # the stage's own fields (rewards/margins ...), logged beside loss and eval_loss
        self.start_time = time.time()
        self.start_step = 0
        self.start_tokens = 0
        self.elapsed_before = 0.0  # seconds the run had trained before this process resumed it
        self.diverged_at: Optional[int] = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start_time = time.time()
        self.start_step = state.global_step
        self.start_tokens = state.num_input_tokens_seen
        if state.global_step > 0:
            self.run_dir.truncate_trainer_log(state.global_step)
            self.elapsed_before = _last_elapsed_seconds(self.run_dir.trainer_log_path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged_at = state.global_step
            control.should_training_stop = True
        if not self.run_dir.is_main_process:
            return
        now = time.time() - self.start_time
        steps_done = max(state.global_step - self.start_step, 1)
        remaining = now / steps_done * max(state.max_steps - state.global_step, 0)
        tokens = state.num_input_tokens_seen
        record = {
            "current_steps": state.global_step,
            "total_steps": state.max_steps,
            "loss": loss,
            "eval_loss": logs.get("eval_loss"),
            "lr": logs.get("learning_rate"),
            "epoch": round(state.epoch or 0.0, 4),
            "percentage": round(100 * state.global_step / state.max_steps, 2) if state.max_steps else 0.0,
            "elapsed_time": duration(self.elapsed_before + now),
            "remaining_time": duration(remaining),
            "throughput": round((tokens - self.start_tokens) / now, 2) if now > 0 else None,
            "total_tokens": tokens,
        }
        for name in self.metrics:
            for key in (name, f"eval_{name}"):
                if logs.get(key) is not None:
                    record[key] = round(float(logs[key]), 6)
        record = {key: value for key, value in record.items() if value is not None}
        if "loss" not in record and "eval_loss" not in record:
            return  # the end-of-training summary log; train_results.json holds it
        self.run_dir.append_progress(record)
        shown = f"loss {record['loss']:.4f}" if "loss" in record else f"eval_loss {record['eval_loss']:.4f}"
        lr = f"  lr {record['lr']:.3g}" if "lr" in record else ""
        logger.info(
            "step %d/%d  %s%s  %s elapsed, %s left",
            state.global_step,
            state.max_steps,
            shown,
            lr,
            record["elapsed_time"],
            record["remaining_time"],
        )


def _last_elapsed_seconds(trainer_log: Path) -> float:
    """The elapsed time of the last row of a trainer log (``H:MM:SS`` or ``N day(s), H:MM:SS``), 0 when there is none."""
    try:
        last = trainer_log.read_text(encoding="utf-8").splitlines()[-1]
        text = json.loads(last)["elapsed_time"]
    except (OSError, IndexError, KeyError, ValueError):
        return 0.0
    days, _, clock = text.rpartition(", ")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return (int(days.split()[0]) if days else 0) * 86400 + hours * 3600 + minutes * 60 + seconds


class GracefulStopCallback(TrainerCallback):
    """When the job's StopSignal has fired (SIGTERM/SIGINT), finish the current step, save a checkpoint and stop.

    On any model a step boundary comes within seconds, so an abort is quick and resumable.
    """

    def __init__(self, stop: StopSignal):
        self.stop = stop

    @property
    def received(self) -> Optional[str]:
        return self.stop.received

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_process_received():
            control.should_save = True
            control.should_training_stop = True

    def _any_process_received(self) -> bool:
        """Under DDP every rank must stop at the same step, or the next all-reduce would hang."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self.stop.received is not None
        import torch

        flag = torch.tensor([0 if self.stop.received is None else 1], device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.stop.received is None:
            self.stop.received = "SIGTERM"
        return bool(flag.item())
