"""Steps/s and peak RSS of every training stage on the built-in tiny model, beside sft on the same data.

python bench/alignment_stages.py [steps]   (prints a table; CPU numbers depend on the machine's load)

All stages see the same prompts and answers (data/alignment): sft on prompt -> chosen, rm/dpo/orpo/simpo on the
chosen/rejected pairs, kto on the same answers labelled, ppo on the prompts (rollouts of 16 new tokens, 2 PPO epochs,
against the rm run trained here first). LoRA rank 8, batch 8, cutoff_len 64, one process.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMON = ["cutoff_len=64", "per_device_train_batch_size=8", "logging_steps=1", "save_steps=1000", "plot_loss=false", "learning_rate=1e-3"]


def run(name: str, folder: Path, steps: int, *args: str) -> dict:
    output = folder / name
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "workflows", "train", f"output_dir={output}", f"max_steps={steps}"]
    result = subprocess.run([*command, *COMMON, *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-2000:]}")
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    metrics = json.loads((output / "train_results.json").read_text())
    return {"stage": name, "steps_per_s": metrics["train_steps_per_second"], "peak_rss_mib": peak_kib // 1024, "dir": output}


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        rows = [
            run("sft", folder, steps, "stage=sft", "dataset=dpo_demo_sft"),
            run("rm", folder, steps, "stage=rm", "dataset=dpo_demo"),
            run("dpo", folder, steps, "stage=dpo", "dataset=dpo_demo"),
            run("dpo (orpo)", folder, steps, "stage=dpo", "dataset=dpo_demo", "pref_loss=orpo"),
            run("dpo (simpo)", folder, steps, "stage=dpo", "dataset=dpo_demo", "pref_loss=simpo"),
            run("kto", folder, steps, "stage=kto", "dataset=kto_pairs_demo"),
        ]
        reward_model = next(row["dir"] for row in rows if row["stage"] == "rm")
        ppo_args = ("stage=ppo", "dataset=dpo_demo_sft", f"reward_model={reward_model}", "max_new_tokens=16", "ppo_epochs=2")
        rows.append(run("ppo", folder, steps, *ppo_args))
    sft = rows[0]
    print(f"{'stage':12} {'steps/s':>8} {'vs sft':>7} {'peak RSS MiB':>13}")
    for row in rows:
        print(f"{row['stage']:12} {row['steps_per_s']:8.3f} {row['steps_per_s'] / sft['steps_per_s']:7.2f} {row['peak_rss_mib']:13d}")


if __name__ == "__main__":
    main()
