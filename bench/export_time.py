"""Export time and peak memory of LoRA runs of the tiny model and a wider one, and an extrapolation to a 7B model.

    python bench/export_time.py [key=value ...]

Trains a 1-step LoRA run of the built-in tiny model (1.3M parameters, float32)
and of a wider model with the same tokenizer and random weights (370M, float32,
built here), then exports each three times with ``python -m workflows
export``: safetensors only, and with a GGUF f16 or q8_0 beside them. While a
job runs, psutil samples its process tree every 20 ms for the peak RSS (the
sum over the tree) and notes when each progress row appears: before the first
is start-up (interpreter, CLI, config), then the export's steps (load and
merge, with the torch/transformers/peft imports; write model; write gguf;
check; put in place). Bytes/s is the bytes written to the export folder over
the work (every step). Extra key=value arguments go to every export.

The extrapolation assumes time scales with the bytes written, plus a fixed
cost: a line through the two models' (bytes written, work time) gives the
fixed seconds and the marginal bytes/s, and a 7B model in bf16 writes 2 bytes
per parameter as safetensors plus 2 (f16) or 34/32 (q8_0: 32 int8 weights and
an f16 scale per block) in the GGUF. Peak RSS is extrapolated the same way
against the model's size (its safetensors bytes). The tiny model's bytes/s
alone says little: its work is almost all fixed cost.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from process_memory import tree_rss

from workflows.config import BUILTIN_TINY_MODEL
from workflows.export.command import STEPS
from workflows.run_dir import TRAINER_LOG_FILE

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.02
BIG_MODEL_PARAMETERS = 7e9
BIG_MODEL_BYTES = 2 * BIG_MODEL_PARAMETERS  # bf16 weights in memory and as safetensors
WIDE_ARCHITECTURE = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4)
FORMATS = {  # name -> (export arguments, bytes per parameter a bf16 model writes)
    "safetensors": ([], 2.0),
    "+ gguf f16": (["export_gguf=f16"], 2.0 + 2.0),
    "+ gguf q8_0": (["export_gguf=q8_0"], 2.0 + 34 / 32),
}


@dataclass
class Measurement:
    startup_s: float
    step_s: dict[str, float]  # the export's steps (workflows/export/command.py STEPS) -> seconds
    peak_rss: int
    bytes_written: int

    @property
    def work_s(self) -> float:
        return sum(self.step_s.values())


def build_wide_model(folder: Path) -> Path:
    """The tiny model's tokenizer and config with WIDE_ARCHITECTURE, seeded random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging

    from workflows.models.tiny import build_tiny_model

    tiny = build_tiny_model()
    tiny_config = AutoConfig.from_pretrained(tiny)
    config = type(tiny_config)(**{**tiny_config.to_dict(), **WIDE_ARCHITECTURE, "layer_types": None})  # one per layer, rebuilt
    torch.manual_seed(0)
    logging.disable_progress_bar()
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for path in tiny.iterdir():
        if path.is_file() and not (folder / path.name).exists():
            shutil.copy(path, folder / path.name)
    return folder


def train_lora(model: str, output_dir: Path) -> None:
    log = output_dir.parent / f"{output_dir.name}.log"
    overrides = [f"model_name_or_path={model}", "max_steps=1", "max_samples=8", "save_steps=1000", "plot_loss=false"]
    with log.open("w") as output:
        command = [sys.executable, "-m", "workflows", "train", "examples/tiny_lora_sft.yaml", *overrides, f"output_dir={output_dir}"]
        if subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT).returncode:
            sys.exit(log.read_text()[-3000:])


def measure_export(args: list[str], run_dir: Path, export_dir: Path) -> Measurement:
    """Run one export job, sampling its process tree and the arrival of its progress rows until it ends."""
    log = run_dir.parent / f"{run_dir.name}.log"
    progress = run_dir / TRAINER_LOG_FILE
    started, rows, peak = time.monotonic(), [], 0  # rows[i]: when progress row i appeared
    with log.open("w") as output:
        job = subprocess.Popen(
            [sys.executable, "-m", "workflows", "export", *args, f"output_dir={run_dir}", f"export_dir={export_dir}"],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        process = psutil.Process(job.pid)
        while job.poll() is None:
            try:
                peak = max(peak, tree_rss(process))
            except psutil.NoSuchProcess:  # it ended between poll() and the sample
                break
            written = progress.read_text().count("\n") if progress.is_file() else 0
            rows += [time.monotonic()] * (written - len(rows))
            time.sleep(SAMPLE_S)
    if job.wait():
        sys.exit(log.read_text()[-3000:])
    rows += [time.monotonic()] * (len(STEPS) + 1 - len(rows))  # rows written after the last sample
    written = sum(path.stat().st_size for path in export_dir.rglob("*") if path.is_file())
    shutil.rmtree(export_dir)  # the wide model's exports take gigabytes
    steps = {step: rows[number + 1] - rows[number] for number, step in enumerate(STEPS)}
    return Measurement(rows[0] - started, steps, peak, written)


def line_through(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    return y0 + (y1 - y0) / (x1 - x0) * (x - x0)


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main() -> None:
    extra = sys.argv[1:]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        models = {"tiny": BUILTIN_TINY_MODEL, "wide": str(build_wide_model(folder / "wide_base"))}
        found: dict[tuple[str, str], Measurement] = {}
        print(
            f"{'model':<5} {'export':<12} {'written':>9} {'start-up':>8} {'load':>6} {'write':>6} {'gguf':>6} {'check':>6} "
            f"{'work':>6} {'MB/s':>6} {'peak RSS':>9}"
        )
        for label, model in models.items():
            train_lora(model, folder / f"{label}_lora")
            for name, (arguments, _) in FORMATS.items():
                slug = f"{label}_{name.replace('+ ', '').replace(' ', '_')}"
                source = [f"model_name_or_path={model}", f"adapter_name_or_path={folder / f'{label}_lora'}"]
                one = found[label, name] = measure_export([*source, *arguments, *extra], folder / slug, folder / f"{slug}_model")
                step = one.step_s
                print(
                    f"{label:<5} {name:<12} {one.bytes_written / 1e6:>6.1f} MB {one.startup_s:>6.1f} s {step['load and merge']:>6.1f} "
                    f"{step['write model']:>6.1f} {step['write gguf']:>6.1f} {step['check']:>6.1f} {one.work_s:>6.1f} "
                    f"{one.bytes_written / 1e6 / one.work_s:>6.2f} {one.peak_rss / 2**20:>5.0f} MiB"
                )
        print(f"\n7B in bf16 ({BIG_MODEL_PARAMETERS:.0e} parameters), from the line through tiny and wide:")
        print(f"{'export':<12} {'fixed':>7} {'marginal MB/s':>13} {'written':>9} {'time':>9} {'peak RSS':>9}")
        tiny_size, wide_size = (found[label, "safetensors"].bytes_written for label in ("tiny", "wide"))
        for name, (_, bytes_per_parameter) in FORMATS.items():
            tiny, wide = found["tiny", name], found["wide", name]
            big_bytes = BIG_MODEL_PARAMETERS * bytes_per_parameter
            rate = (wide.bytes_written - tiny.bytes_written) / (wide.work_s - tiny.work_s)
            fixed = tiny.work_s - tiny.bytes_written / rate
            rss = line_through(tiny_size, tiny.peak_rss, wide_size, wide.peak_rss, BIG_MODEL_BYTES)
            print(
                f"{name:<12} {fixed:>5.1f} s {rate / 1e6:>13.1f} {big_bytes / 1e9:>6.1f} GB {duration(fixed + big_bytes / rate):>9} "
                f"{rss / 2**30:>5.1f} GiB"
            )


if __name__ == "__main__":
    main()
