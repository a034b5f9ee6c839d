"""How a training job spreads over processes: torchrun for DDP, DeepSpeed and FSDP, on one machine or several.

One process trains on one GPU at most (transformers would otherwise wrap the
model in DataParallel). Several processes per machine (``nproc_per_node``),
several machines (``NNODES``), DeepSpeed or FSDP mean torchrun: ``python -m
workflows train`` hands over to ``python -m workflows.train.torchrun ... -m
workflows train <the same arguments>`` (torch's torchrun, quiet when
aborted) and each rank runs the job, rank 0 alone writing the run directory.

Multi-node follows LLaMA-Factory's launcher: every machine runs the same
command with ``NNODES``, its own ``NODE_RANK``, and the ``MASTER_ADDR`` and
``MASTER_PORT`` of the machine with ``NODE_RANK=0``.

The presets the Train tab offers (``examples/deepspeed``, ``examples/fsdp``)
are listed here once, by the relative paths LLaMA-Factory's configs use; such
a path missing from the current folder means the shipped file
(``with_engine_files``). Nothing here imports torch at module level: the UI
reads the presets.
"""

import importlib.util
import json
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from workflows.config import RunConfig
from workflows.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_MULTI_NODE_PORT = "29500"  # torchrun's own default: every machine must name the same port
# After SIGTERM (the UI's Abort) the ranks finish their step and save a checkpoint; torchrun waits this long
# before SIGKILL (its default, 30 s, is too short to save a large model).
ABORT_GRACE_SECONDS = 300


@dataclass(frozen=True)
class EnginePreset:
    """A shipped DeepSpeed or FSDP setup: its name in the Train tab and the config keys it sets."""

    label: str
    settings: dict[str, Any]


def _deepspeed(file_name: str) -> dict[str, Any]:
    return {"deepspeed": f"examples/deepspeed/{file_name}"}


ENGINE_PRESETS: dict[str, EnginePreset] = {
    "zero0": EnginePreset("DeepSpeed ZeRO-0", _deepspeed("ds_z0_config.json")),
    "zero2": EnginePreset("DeepSpeed ZeRO-2", _deepspeed("ds_z2_config.json")),
    "zero2_offload": EnginePreset("DeepSpeed ZeRO-2 offload", _deepspeed("ds_z2_offload_config.json")),
    "zero3": EnginePreset("DeepSpeed ZeRO-3", _deepspeed("ds_z3_config.json")),
    "zero3_offload": EnginePreset("DeepSpeed ZeRO-3 offload", _deepspeed("ds_z3_offload_config.json")),
    "fsdp": EnginePreset("FSDP", {"fsdp": True, "fsdp_config": "examples/fsdp/fsdp_config.json"}),
}


def preset_in(values: Mapping[str, Any]) -> Optional[str]:
    """The key of the preset whose settings ``values`` hold (a file named as in the preset or by its path here), or None."""

    def same(value: Any, preset_value: Any) -> bool:
        if isinstance(preset_value, str) and isinstance(value, str):
            return value == preset_value or Path(value) == PROJECT_DIR / preset_value
        return value == preset_value

    for key, preset in ENGINE_PRESETS.items():
        if all(same(values.get(name), value) for name, value in preset.settings.items()):
            return key
    return None


def engine_name(config: RunConfig) -> str:
    """What spreads the work: "DeepSpeed", "FSDP" or "DDP"."""
    if config.training.deepspeed:
        return "DeepSpeed"
    return "FSDP" if config.passthrough.fsdp else "DDP"


@dataclass(frozen=True)
class Nodes:
    """The machines of a run, from NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT."""

    count: int
    rank: int
    master_addr: str
    master_port: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Nodes":
        count, rank = _whole_number(environ, "NNODES", 1), _whole_number(environ, "NODE_RANK", 0)
        if count < 1 or not 0 <= rank < count:
            raise ConfigError(f"NODE_RANK={rank} with NNODES={count}: NNODES must be 1 or more and NODE_RANK one of 0 .. NNODES-1.")
        if count > 1 and not environ.get("MASTER_ADDR"):
            raise ConfigError(f"NNODES={count} needs MASTER_ADDR: the address of the machine with NODE_RANK=0, the same on every machine.")
        default_port = DEFAULT_MULTI_NODE_PORT if count > 1 else str(_free_port())
        return cls(count, rank, environ.get("MASTER_ADDR", "127.0.0.1"), environ.get("MASTER_PORT") or default_port)


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"The environment variable {name}={text!r} must be a whole number.") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def needs_torchrun(config: RunConfig, environ: Mapping[str, str]) -> bool:
    """True when a job started as one process should hand over to torchrun."""
    many = config.training.nproc_per_node > 1 or _whole_number(environ, "NNODES", 1) > 1
    return many or engine_name(config) != "DDP"  # DeepSpeed and FSDP need a process group even for one process


def torchrun_command(config: RunConfig, argv: list[str], nodes: Nodes) -> list[str]:
    """The exact command that runs ``python -m workflows <argv>`` as every rank of this machine."""
    return [
        sys.executable,
        "-m",
        "workflows.train.torchrun",
        f"--nnodes={nodes.count}",
        f"--node_rank={nodes.rank}",
        f"--nproc_per_node={config.training.nproc_per_node}",
        f"--master_addr={nodes.master_addr}",
        f"--master_port={nodes.master_port}",
        f"--shutdown-timeout={ABORT_GRACE_SECONDS}",
        "-m",
        "workflows",
        *argv,
    ]


def with_engine_files(config: RunConfig) -> RunConfig:
    """``config`` with its ``deepspeed`` and ``fsdp_config`` paths as the ranks open them.

    A file missing from the current folder whose path there is ``examples/...`` (written relatively, as
    in LLaMA-Factory's configs, or absolutely, as the UI confines it into its workdir) is the shipped one.
    """
    changes = {}
    for key, path in (("deepspeed", config.training.deepspeed), ("fsdp_config", config.passthrough.fsdp_config)):
        if not isinstance(path, str) or Path(path).exists():
            continue
        here = Path.cwd()
        relative = Path(path).relative_to(here) if Path(path).is_relative_to(here) else Path(path)
        shipped = (PROJECT_DIR / relative).resolve()
        if not relative.is_absolute() and shipped.is_relative_to(PROJECT_DIR / "examples") and shipped.is_file():
            changes[key] = str(shipped)
    return config.replace(**changes) if changes else config


def check_engine(config: RunConfig, gpu_count: int) -> None:
    """DeepSpeed and FSDP settings that would fail (or silently do something else) once the ranks start."""
    deepspeed, fsdp, fsdp_config = config.training.deepspeed, config.passthrough.fsdp, config.passthrough.fsdp_config
    if deepspeed:
        _check_json_file("deepspeed", deepspeed)
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(
                f"`deepspeed: {deepspeed}` needs the deepspeed package, which is not installed: "
                "`pip install 'llamaboard[deepspeed]'` (on a machine with CUDA GPUs), or remove `deepspeed`."
            )
    if fsdp and isinstance(fsdp_config, str):
        _check_json_file("fsdp_config", fsdp_config)
    if fsdp and gpu_count == 0:
        raise ConfigError(
            "`fsdp` needs CUDA GPUs: on CPU, accelerate ignores it and would train every rank on a full copy of the model (DDP). "
            "Remove `fsdp` (and `fsdp_config`) to train with DDP here."
        )


def check_gpus(config: RunConfig, gpu_count: int) -> None:
    """Each rank of a machine takes one GPU (its LOCAL_RANK); without GPUs the ranks run on CPU with gloo."""
    nproc = config.training.nproc_per_node
    if gpu_count and nproc > gpu_count:
        raise ConfigError(
            f"`nproc_per_node: {nproc}` but this machine shows {gpu_count} GPU(s) (CUDA_VISIBLE_DEVICES): "
            f"one process per GPU, so set nproc_per_node to {gpu_count} or less, or choose more devices."
        )


def one_gpu_env(environ: Mapping[str, str], gpu_count: int) -> dict[str, str]:
    """For a single process on a machine with several GPUs: CUDA_VISIBLE_DEVICES naming only the first one.

    Without it transformers would spread one process over every GPU with DataParallel, which is slower
    than one GPU; several GPUs are used by several processes (``nproc_per_node``).
    """
    if gpu_count < 2:
        return {}
    visible = [entry.strip() for entry in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    return {"CUDA_VISIBLE_DEVICES": visible[0] if visible else "0"}


def _check_json_file(key: str, path: str) -> None:
    file = Path(path)
    if not file.is_file():
        folder = "examples/fsdp" if key == "fsdp_config" else "examples/deepspeed"
        shipped = ", ".join(f"{folder}/{file.name}" for file in sorted((PROJECT_DIR / folder).glob("*.json")))
        raise ConfigError(f"`{key}: {path}` is not a file. Give the path of a JSON config; shipped presets: {shipped}.")
    try:
        loaded = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"`{key}: {path}` is not valid JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"`{key}: {path}` must hold a JSON object, not a {type(loaded).__name__}.")
