"""`python -m workflows train`: set up the run directory and processes, then run the stage's recipe.

The recipe comes from the stage registry; ``run_job`` guarantees a truthful
``status.json`` whatever happens: finished, aborted (SIGTERM/SIGINT,
checkpoint saved) or failed (with the one-line error, the log and the
checkpoints kept).
"""

import importlib
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.jobs import Outcome, StopSignal, run_job
from workflows.run_dir import RunDirectory, checkpoint_complete, checkpoint_step, default_job_name, job_folder, list_checkpoints
from workflows.stages import get_stage
from workflows.train.imports import skip_unused_imports

logger = logging.getLogger("workflows")


def default_output_dir(config: RunConfig) -> Path:
    return job_folder(Path("saves"), "train", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("train"))


def train_command(config: RunConfig, argv: list[str]) -> int:
    """Run training as configured; returns the process exit code."""
    if config.training.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:
        return _relaunch_under_torchrun(config.training.nproc_per_node, argv)
    is_main = int(os.environ.get("RANK", "0")) == 0
    output_dir = Path(config.training.output_dir or default_output_dir(config))
    if os.environ.get("WORLD_SIZE", "1") != "1" and not config.training.output_dir:
        raise ConfigError("`output_dir` must be set when training with several processes, so all of them write to the same run.")
    config = config.replace(output_dir=str(output_dir), resume_from_checkpoint=_resolve_resume(config, output_dir))
    run_dir = RunDirectory(output_dir, "train", is_main_process=is_main)
    resuming = bool(config.training.resume_from_checkpoint)
    run_dir.check_writable(config.training.overwrite_output_dir, resuming=resuming)
    skip_unused_imports(config)
    recipe = importlib.import_module(f"workflows.train.{get_stage(config.finetuning.stage).recipe}")

    def train(stop: StopSignal) -> Outcome:
        if resuming:
            # run.yaml stays the record of the original run; the trainer log is cut back only once training restarts
            run_dir.record_resume(config.training.resume_from_checkpoint, [sys.executable, "-m", "workflows", *argv])
        if is_main and not (resuming and run_dir.config_path.exists()):
            config.write_yaml(run_dir.config_path)
        state = recipe.run(config, run_dir, stop, show_progress=sys.stderr.isatty())
        if state == "aborted":
            saved = list_checkpoints(output_dir)
            where = f" (last checkpoint: {saved[-1].name})" if saved else ""
            return Outcome("aborted", f"Aborted by {stop.received}{where}; resume it with resume_from_checkpoint=true.")
        return Outcome(state)

    return run_job(run_dir, argv, train, fresh=not resuming)


def _resolve_resume(config: RunConfig, output_dir: Path):
    """`resume_from_checkpoint: true` means the newest checkpoint-N in output_dir."""
    resume = config.training.resume_from_checkpoint
    if resume in (None, False, ""):
        return None
    if resume is True:
        checkpoints = list_checkpoints(output_dir)
        if not checkpoints:
            raise ConfigError(f"`resume_from_checkpoint: true` but `{output_dir}` has no complete checkpoint-N folder to resume from.")
        return str(checkpoints[-1])
    if not Path(resume).is_dir():
        raise ConfigError(f"`resume_from_checkpoint: {resume}` is not a folder. Pass a checkpoint-N folder or true.")
    checkpoint_step(Path(resume))
    if not checkpoint_complete(Path(resume)):
        raise ConfigError(
            f"`resume_from_checkpoint: {resume}` is incomplete (no readable trainer_state.json): it was being written when the run "
            "stopped. Resume from an earlier checkpoint, or pass true for the last complete one."
        )
    return str(resume)


def _relaunch_under_torchrun(nproc: int, argv: list[str]) -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        "-m",
        "workflows",
        *argv,
    ]
    print("Relaunching under torchrun:", " ".join(command), file=sys.stderr)
    return subprocess.call(command)
