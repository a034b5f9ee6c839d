"""Training runs never lose data and end truthful (issue: hardening). Real training subprocesses on the tiny model."""

import errno
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflows import run_dir as run_dir_module
from workflows.run_dir import RunDirectory, list_checkpoints, read_state

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHORT = ("examples/tiny_lora_sft.yaml", "max_steps=10", "logging_steps=1", "save_steps=5")


def train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows", "train", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "finished"
    result = train(*SHORT, f"output_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_a_resume_that_fails_keeps_the_log_and_the_runs_config(finished_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "checkpoint-5" / "adapter_model.safetensors").write_bytes(b"not a safetensors file")  # a corrupt checkpoint
    config_before, log_before = (run_dir / "run.yaml").read_text(), (run_dir / "trainer_log.jsonl").read_text()
    result = train(*SHORT, f"output_dir={run_dir}", f"resume_from_checkpoint={run_dir / 'checkpoint-5'}")
    assert result.returncode != 0
    assert (run_dir / "trainer_log.jsonl").read_text() == log_before  # steps 6-10 are still there
    assert (run_dir / "run.yaml").read_text() == config_before  # re-running run.yaml does not rewind the run
    (resume,) = [json.loads(line) for line in (run_dir / "resumes.jsonl").read_text().splitlines()]
    assert resume["checkpoint"] == str(run_dir / "checkpoint-5")
    assert read_state(run_dir).state == "failed"


def test_a_resume_truncates_the_log_only_once_training_restarts_and_continues_the_clock(finished_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    result = train(*SHORT, f"output_dir={run_dir}", "resume_from_checkpoint=true")  # true: the last complete checkpoint, 10
    assert result.returncode == 0, result.stderr[-2000:]
    result = train(*SHORT, "max_steps=12", f"output_dir={run_dir}", f"resume_from_checkpoint={run_dir / 'checkpoint-5'}")
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [row["current_steps"] for row in rows(run_dir) if "loss" in row]
    assert steps == list(range(1, 13))  # 1-5 kept, 6-12 written by the resumed run, nothing twice
    assert rows(run_dir)[-1]["total_steps"] == 12


def test_a_resume_cannot_run_while_the_run_is_still_going(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "live"
    command = [sys.executable, "-m", "workflows", "train", *SHORT, "max_steps=2000", "save_steps=2", f"output_dir={run_dir}"]
    live = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list_checkpoints(run_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert list_checkpoints(run_dir), "the live run saved no checkpoint"
        result = train(*SHORT, f"output_dir={run_dir}", "resume_from_checkpoint=true")
        assert result.returncode == 2 and "still going" in result.stderr, result.stderr[-2000:]
        assert live.poll() is None
    finally:
        live.send_signal(signal.SIGTERM)
        live.wait(timeout=120)
    assert read_state(run_dir).state == "aborted"  # the live run's own ending, untouched by the refused resume


def test_last_means_the_last_complete_checkpoint(finished_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "checkpoint-10" / "trainer_state.json").unlink()  # as if killed (or out of disk) while saving it
    assert [path.name for path in list_checkpoints(run_dir)] == ["checkpoint-5"]
    assert [path.name for path in list_checkpoints(run_dir, complete_only=False)] == ["checkpoint-5", "checkpoint-10"]
    result = train(*SHORT, f"output_dir={run_dir}", f"resume_from_checkpoint={run_dir / 'checkpoint-10'}")
    assert result.returncode == 2 and "is incomplete" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_still_leaves_a_truthful_status(tmp_path, monkeypatch):
    """The full disk is simulated (an atomic write that raises ENOSPC): the final state is written in place."""
    job = RunDirectory(tmp_path / "job", "train")
    job.start(["train"], fresh=True)

    def no_space(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_dir_module, "write_json_atomic", no_space)
    job.finish("failed", 1, "OSError: [Errno 28] No space left on device")
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert (status["state"], status["error"]) == ("failed", "OSError: [Errno 28] No space left on device")


def test_a_job_that_died_without_a_status_shows_its_logs_last_error(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (job / "status.json").write_text(json.dumps({"kind": "train", "state": "running", "pid": dead.pid}))
    (job / "running_log.txt").write_text("step 3\nOSError: [Errno 28] No space left on device\n")
    state = read_state(job)
    assert state.state == "failed" and state.error.endswith("OSError: [Errno 28] No space left on device")


def test_a_nan_loss_fails_the_run_and_is_logged_as_nan(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "nan"
    result = train(*SHORT, "learning_rate=1e30", f"output_dir={run_dir}")
    assert result.returncode == 2
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and "loss became NaN at step" in status["error"]
    losses = [row["loss"] for row in rows(run_dir)]
    assert math.isnan(losses[-1]) and all(math.isfinite(loss) for loss in losses[:-1]) and 0.0 not in losses
    assert not (run_dir / "adapter_model.safetensors").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("lora_rank=4096", "`lora_rank: 4096` is above the model's hidden size (128)"),
        ("cutoff_len=9000", "`cutoff_len: 9000` is longer than the model's context (4096 positions)"),
    ],
)
def test_absurd_values_are_refused_before_weights_load(tiny_model_dir, tmp_path, override, message):
    result = train(*SHORT, override, f"output_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and message in result.stderr
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "failed"


def test_the_folder_lock_is_held_while_a_job_runs_and_released_when_it_ends(tmp_path):
    first = RunDirectory(tmp_path / "job", "eval")
    first.check_writable(overwrite=True, resuming=False)
    first.start(["eval"], fresh=True)
    with pytest.raises(Exception, match="still going"):
        RunDirectory(tmp_path / "job", "eval").check_writable(overwrite=True, resuming=False)
    first.finish("failed", 2, "bad task")
    second = RunDirectory(tmp_path / "job", "eval")  # the next job in the same process (a notebook, the tests)
    second.check_writable(overwrite=True, resuming=False)
    second.release()
