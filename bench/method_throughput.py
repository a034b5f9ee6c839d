"""Steps/s and peak RSS of each fine-tuning method on the built-in tiny model, against plain LoRA or full fine-tuning.

python bench/method_throughput.py [steps] [method ...]   (prints a table; CPU numbers depend on the machine's load)

Every method trains the same sft data (identity, cutoff_len 128, batch 4, one process) for the same
number of steps; its row compares it with the baseline it replaces (LoRA for adapter methods, full for
methods that train the model's own weights). A method is one row of METHODS: its overrides, and a
setup that prepares what it trains on (LLaMA Pro trains a model that `expand` wrote first).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "dataset=identity",
    "cutoff_len=128",
    "per_device_train_batch_size=4",
    "logging_steps=1",
    "save_steps=100000",
    "plot_loss=false",
    "learning_rate=1e-3",
]


def expanded_model(folder: Path) -> list[str]:
    """LLaMA Pro trains the tiny model grown by two zero-initialised blocks."""
    model = folder / "expanded"
    if not model.exists():
        workflows(["expand", "num_expand=2", f"output_dir={model}"])
    return [f"model_name_or_path={model}", "use_llama_pro=true", "freeze_trainable_layers=2"]


# name -> (baseline, overrides, setup returning more overrides or None)
METHODS = {
    "lora": ("lora", ["finetuning_type=lora"], None),
    "full": ("full", ["finetuning_type=full"], None),
    "freeze": ("full", ["finetuning_type=freeze", "freeze_trainable_layers=2"], None),
    "oft": ("lora", ["finetuning_type=oft", "oft_block_size=32"], None),
    "dora": ("lora", ["finetuning_type=lora", "use_dora=true"], None),
    "pissa": ("lora", ["finetuning_type=lora", "pissa_init=true", "pissa_iter=16"], None),
    "lora+ (embedding lr)": ("lora", ["finetuning_type=lora", "loraplus_lr_ratio=16", "loraplus_lr_embedding=1e-6"], None),
    "lora pure_bf16": ("lora", ["finetuning_type=lora", "pure_bf16=true"], None),
    "llama_pro freeze": ("full", ["finetuning_type=freeze"], expanded_model),
    "llama_pro lora": ("lora", ["finetuning_type=lora"], expanded_model),
    "galore": ("full", ["finetuning_type=full", "use_galore=true"], None),
    "galore layerwise": ("full", ["finetuning_type=full", "use_galore=true", "galore_layerwise=true"], None),
    "apollo": ("full", ["finetuning_type=full", "use_apollo=true"], None),
    "apollo layerwise": ("full", ["finetuning_type=full", "use_apollo=true", "apollo_layerwise=true"], None),
    "badam layer": ("full", ["finetuning_type=full", "use_badam=true", "badam_switch_interval=5"], None),
    "badam ratio": ("full", ["finetuning_type=full", "use_badam=true", "badam_mode=ratio"], None),
    "adam-mini": ("full", ["finetuning_type=full", "use_adam_mini=true"], None),
    "muon": ("full", ["finetuning_type=full", "use_muon=true"], None),
}


def workflows(arguments: list[str]) -> subprocess.CompletedProcess:
    """Run `python -m workflows ...` under /usr/bin/time; its peak RSS is the last stderr line."""
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "workflows", *arguments]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"`{' '.join(arguments[:3])} ...` failed:\n{result.stderr[-2000:]}")
    return result


def measure(name: str, folder: Path, steps: int) -> dict:
    _, overrides, setup = METHODS[name]
    output = folder / name.replace(" ", "_")
    extra = setup(folder) if setup else []
    result = workflows(["train", f"output_dir={output}", f"max_steps={steps}", *COMMON, *overrides, *extra])
    metrics = json.loads((output / "train_results.json").read_text())
    losses = [json.loads(line)["loss"] for line in (output / "trainer_log.jsonl").read_text().splitlines() if '"loss"' in line]
    return {
        "steps_per_s": metrics["train_steps_per_second"],
        "peak_rss_mib": int(result.stderr.strip().splitlines()[-1]) / 1024,
        "loss": (losses[0], losses[-1]),
    }


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    names = sys.argv[2:] or list(METHODS)
    needed = list(dict.fromkeys([METHODS[name][0] for name in names] + names))
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as temp:
        results = {name: measure(name, Path(temp), steps) for name in needed}
    print(f"{steps} steps each on llamaboard-tiny ({', '.join(COMMON[:3])})")
    print(f"{'method':22} {'steps/s':>8} {'x base':>7} {'peak RSS MiB':>13} {'x base':>7}  {'loss first -> last':>20}  baseline")
    for name in names:
        baseline = METHODS[name][0]
        row, base = results[name], results[baseline]
        print(
            f"{name:22} {row['steps_per_s']:8.2f} {row['steps_per_s'] / base['steps_per_s']:7.2f} {row['peak_rss_mib']:13.0f} "
            f"{row['peak_rss_mib'] / base['peak_rss_mib']:7.2f}  {row['loss'][0]:9.3f} -> {row['loss'][1]:7.3f}  {baseline}"
        )


if __name__ == "__main__":
    main()
