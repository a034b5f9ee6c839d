"""The device picker: which accelerators a training job may use.

Devices are listed by ``python -m workflows version --json`` in a subprocess
(the UI never imports torch), once per UI process. A choice becomes the job's
``CUDA_VISIBLE_DEVICES``, mapped through the UI's own CUDA_VISIBLE_DEVICES so
that "cuda:1" means the second GPU this UI can see. A training job runs one
process per chosen GPU (the Train tab sets ``nproc_per_node`` from
``gpu_count``), so several GPUs mean DDP under torchrun.
"""

import json
import os
import subprocess
import sys
from functools import cache

CPU = "cpu"


@cache
def detect_devices() -> tuple[str, ...]:
    """Device names such as "cuda:0 NVIDIA H100 80GB HBM3", or ("cpu",) when there is no GPU or no answer."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "workflows", "version", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        devices = json.loads(result.stdout).get("devices") or [CPU]
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError, AttributeError):
        devices = [CPU]
    return tuple(devices)


def device_env(selected: list[str], environ: dict[str, str] = os.environ) -> dict[str, str]:
    """The environment a job needs to use ``selected`` devices; empty on a machine without GPUs."""
    if not any(device.startswith("cuda:") for device in detect_devices()):
        return {}
    indices = [device.split()[0].removeprefix("cuda:") for device in selected if device.startswith("cuda:")]
    visible = [entry.strip() for entry in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    if visible:
        indices = [visible[int(index)] for index in indices if int(index) < len(visible)]
    return {"CUDA_VISIBLE_DEVICES": ",".join(indices)}


def gpu_count(selected: list[str]) -> int:
    """How many GPUs ``selected`` names (0 for the CPU)."""
    return sum(device.startswith("cuda:") for device in selected or [])
