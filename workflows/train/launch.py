"""`python -m workflows train`: set up the run directory, logging and processes, then run a stage.

Whatever happens, the run directory ends with a truthful `status.json`:
finished, aborted (SIGTERM/SIGINT, checkpoint saved) or failed (with the
one-line error, the log and the checkpoints kept).
"""

import logging
import os
import re
import socket
import subprocess
import sys
import traceback
from datetime import datetime
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError, UserError
from workflows.train.run_dir import RunDirectory, checkpoint_step, list_checkpoints

logger = logging.getLogger("workflows")
EXIT_CODES = {"finished": 0, "aborted": 143}


def default_output_dir(config: RunConfig) -> Path:
    model_name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(config.model.model_name_or_path.rstrip("/")).name) or "model"
    stamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    return Path("saves") / model_name / config.finetuning.finetuning_type / f"train_{stamp}"


def train_command(config: RunConfig, argv: list[str]) -> int:
    """Run training as configured; returns the process exit code."""
    if config.training.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:
        return _relaunch_under_torchrun(config.training.nproc_per_node, argv)
    is_main = int(os.environ.get("RANK", "0")) == 0
    output_dir = Path(config.training.output_dir or default_output_dir(config))
    if os.environ.get("WORLD_SIZE", "1") != "1" and not config.training.output_dir:
        raise ConfigError("`output_dir` must be set when training with several processes, so all of them write to the same run.")
    config = config.replace(output_dir=str(output_dir), resume_from_checkpoint=_resolve_resume(config, output_dir))
    run_dir = RunDirectory(output_dir, is_main_process=is_main)
    resuming = bool(config.training.resume_from_checkpoint)
    run_dir.check_writable(config.training.overwrite_output_dir, resuming=resuming)
    run_dir.start([sys.executable, "-m", "workflows", *argv], fresh=not resuming)
    _setup_logging(run_dir)
    if is_main:
        config.write_yaml(output_dir / "run.yaml")
    if config.training.resume_from_checkpoint:
        run_dir.truncate_trainer_log(checkpoint_step(Path(config.training.resume_from_checkpoint)))
    logger.info("Run directory: %s", output_dir.resolve())

    from workflows.train.callbacks import GracefulStopCallback

    stop = GracefulStopCallback()
    try:
        return _run_stage(config, run_dir, stop)
    finally:
        stop.restore()


def _run_stage(config: RunConfig, run_dir: RunDirectory, stop) -> int:
    from workflows.train import causal_lm

    output_dir = run_dir.path
    try:
        state = causal_lm.run(config, run_dir, stop, show_progress=sys.stderr.isatty())
    except UserError as error:
        logger.error("%s", error)
        run_dir.finish("failed", error.exit_code, str(error))
        return error.exit_code
    except KeyboardInterrupt:
        run_dir.finish("aborted", EXIT_CODES["aborted"], "Stopped before a checkpoint could be saved.")
        return EXIT_CODES["aborted"]
    except Exception as error:  # a bug or an environment failure: keep the traceback in the log
        logger.error("Training failed:\n%s", traceback.format_exc())
        run_dir.finish("failed", 1, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip())
        return 1
    saved = list_checkpoints(output_dir)
    if state == "aborted":
        where = f" (last checkpoint: {saved[-1].name})" if saved else ""
        logger.warning("Run aborted by %s%s; resume it with resume_from_checkpoint=true", stop.received, where)
        run_dir.finish("aborted", EXIT_CODES["aborted"], f"Aborted by {stop.received}{where}.")
    else:
        logger.info("Training finished: %s", output_dir.resolve())
        run_dir.finish("finished", 0)
    return EXIT_CODES[state]


def _resolve_resume(config: RunConfig, output_dir: Path):
    """`resume_from_checkpoint: true` means the newest checkpoint-N in output_dir."""
    resume = config.training.resume_from_checkpoint
    if resume in (None, False, ""):
        return None
    if resume is True:
        checkpoints = list_checkpoints(output_dir)
        if not checkpoints:
            raise ConfigError(f"`resume_from_checkpoint: true` but `{output_dir}` has no checkpoint-N folder to resume from.")
        return str(checkpoints[-1])
    if not Path(resume).is_dir():
        raise ConfigError(f"`resume_from_checkpoint: {resume}` is not a folder. Pass a checkpoint-N folder or true.")
    checkpoint_step(Path(resume))
    return str(resume)


class _LogTee:
    """Copies a stream into running_log.txt; progress-bar redraws (\\r without \\n) stay on the terminal only."""

    def __init__(self, stream, log_file):
        self.stream, self.log_file = stream, log_file

    def write(self, text: str) -> int:
        self.stream.write(text)
        if "\r" not in text or text.endswith("\n"):
            self.log_file.write(text.rsplit("\r", 1)[-1])
            self.log_file.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _setup_logging(run_dir: RunDirectory) -> None:
    """Log to the terminal; on rank 0 also to running_log.txt unless the launcher already redirects there."""
    if run_dir.is_main_process and not os.environ.get("LLAMABOARD_LOG_TO_STDOUT_ONLY"):
        log_file = run_dir.running_log_path.open("a", encoding="utf-8")
        sys.stdout = _LogTee(sys.stdout, log_file)
        sys.stderr = _LogTee(sys.stderr, log_file)
    logging.basicConfig(
        level=logging.INFO if run_dir.is_main_process else logging.WARNING,
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    import transformers

    transformers.logging.set_verbosity_warning()
    transformers.logging.disable_default_handler()
    transformers.logging.enable_propagation()


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
