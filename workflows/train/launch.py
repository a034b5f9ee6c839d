"""`python -m workflows train`: set up the run directory and processes, then run the stage's recipe.

The recipe comes from the stage registry; ``run_job`` guarantees a truthful
``status.json`` whatever happens: finished, aborted (SIGTERM/SIGINT,
checkpoint saved) or failed (with the one-line error, the log and the
checkpoints kept).

A job of several processes (``workflows.train.distributed``) replaces this
process with torchrun (exec, same pid): the process a launcher started, and
whose process group it signals, is then the torchrun agent, which forwards
SIGTERM once to every rank (each in its own session) and waits for them to
save their checkpoint.
"""

import importlib
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.imports import loaded_optional_packages
from workflows.jobs import Outcome, StopSignal, run_job
from workflows.models.quantization import check_quantization
from workflows.models.speedups import check_speedups, check_training_precision
from workflows.run_dir import RunDirectory, checkpoint_complete, checkpoint_step, default_job_name, job_folder, list_checkpoints
from workflows.stages import get_stage
from workflows.startup import freeze_imports
from workflows.train.distributed import (
    Nodes,
    check_engine,
    check_gpus,
    engine_name,
    needs_torchrun,
    one_gpu_env,
    torchrun_command,
    with_engine_files,
)

logger = logging.getLogger("workflows")


def default_output_dir(config: RunConfig) -> Path:
    return job_folder(Path("saves"), "train", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("train"))


def train_command(config: RunConfig, argv: list[str]) -> int:
    """Run training as configured; returns the process exit code (or becomes torchrun, which returns it)."""
    gpu_count = _visible_gpu_count()
    config = with_engine_files(config)
    check_engine(config, gpu_count)
    check_training_precision(config.model, config.training.bf16 or config.training.fp16)
    check_speedups(config.model)  # before the data is tokenised: what this machine cannot run stops the job at once
    check_quantization(config)
    if "LOCAL_RANK" not in os.environ:  # started as one process, not as a rank of torchrun
        if needs_torchrun(config, os.environ):
            _become_torchrun(config, argv, gpu_count)
        os.environ.update(_pin_one_gpu(gpu_count))
    is_main = int(os.environ.get("RANK", "0")) == 0
    output_dir = Path(config.training.output_dir or default_output_dir(config))
    if os.environ.get("WORLD_SIZE", "1") != "1" and not config.training.output_dir:
        raise ConfigError("`output_dir` must be set when training with several processes, so all of them write to the same run.")
    config = config.replace(output_dir=str(output_dir), resume_from_checkpoint=_resolve_resume(config, output_dir))
    run_dir = RunDirectory(output_dir, "train", is_main_process=is_main)
    resuming = bool(config.training.resume_from_checkpoint)
    run_dir.check_writable(config.training.overwrite_output_dir, resuming=resuming)
    recipe = importlib.import_module(f"workflows.train.{get_stage(config.finetuning.stage).recipe}")
    freeze_imports()  # torch, transformers and the stage's libraries: later collections skip them (workflows.startup)

    def train(stop: StopSignal) -> Outcome:
        if resuming:
            # run.yaml stays the record of the original run; the trainer log is cut back only once training restarts
            run_dir.record_resume(config.training.resume_from_checkpoint, [sys.executable, "-m", "workflows", *argv])
        if is_main and not (resuming and run_dir.config_path.exists()):
            config.write_yaml(run_dir.config_path)
        state = recipe.run(config, run_dir, stop, show_progress=sys.stderr.isatty())
        run_dir.add_to_provenance(loaded_optional_packages=loaded_optional_packages())  # the optimizer's included
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


def _visible_gpu_count() -> int:
    """CUDA GPUs this process may use, counted without fixing CUDA_VISIBLE_DEVICES (torch asks NVML first)."""
    import torch

    return torch.cuda.device_count()


def _pin_one_gpu(gpu_count: int) -> dict[str, str]:
    env = one_gpu_env(os.environ, gpu_count)
    if env:
        print(
            f"{gpu_count} GPUs are visible but `nproc_per_node` is 1: training on CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} "
            f"only. Set nproc_per_node={gpu_count} to train on all of them (DDP, one process per GPU).",
            file=sys.stderr,
        )
    return env


def _become_torchrun(config: RunConfig, argv: list[str], gpu_count: int) -> NoReturn:
    """Replace this process with torchrun running ``python -m workflows <argv>`` as each rank of this machine."""
    check_gpus(config, gpu_count)
    nodes = Nodes.from_env(os.environ)
    if not config.training.output_dir:  # every rank (and machine) must write to the same run directory
        if nodes.count > 1:
            raise ConfigError("`output_dir` must be set for a run on several machines, so all of them write to the same run.")
        argv = [*argv, f"output_dir={default_output_dir(config)}"]
    command = torchrun_command(config, argv, nodes)
    processes = config.training.nproc_per_node * nodes.count
    counted = f"{processes} processes" if processes > 1 else "1 process"
    print(f"Starting {counted} ({engine_name(config)}) with torchrun: {shlex.join(command)}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execv(command[0], command)
