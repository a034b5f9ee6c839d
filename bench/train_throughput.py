"""Training speed and memory of the tiny LoRA SFT run, measured from outside the process.

    python bench/train_throughput.py [--steps 50] [--rounds 3] [--set KEY=VALUE ...]

Prints wall time, time from process start to the first trainer_log.jsonl line,
effective (non-padding) tokens per second, peak RSS of the whole process tree,
then padded vs padding-free batches (`padding_free=false` / `true` / unset),
in interleaved rounds, with their final losses, and the tokenisation
throughput on 10,000 generated records. `--set` changes the run, e.g.
`--set per_device_train_batch_size=8 --set cutoff_len=1024 --set dataset=alpaca_en_demo
--set dataset_dir=../shared/fixtures/llamafactory/data` (LLaMA-Factory's demo data).
Targets (issue 3): first logged step <= 3 s, peak RSS <= 500 MB.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from process_memory import tree_rss

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))


def measure_training(steps: int, cache: str, overrides: list[str]) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-run-")) / "run"
    command = [
        sys.executable,
        "-m",
        "workflows",
        "train",
        "examples/tiny_lora_sft.yaml",
        f"output_dir={run_dir}",
        f"max_steps={steps}",
        f"save_steps={steps}",
        "logging_steps=1",
        *overrides,
    ]
    env = {**os.environ, "LLAMABOARD_CACHE": cache}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    peak, first_step = 0, None
    log = run_dir / "trainer_log.jsonl"
    while process.poll() is None:
        peak = max(peak, tree_rss(watched))
        if first_step is None and log.is_file() and log.stat().st_size:
            first_step = time.perf_counter() - start
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"training failed, see {run_dir / 'running_log.txt'}")
    lines = [json.loads(line) for line in log.read_text().splitlines() if "loss" in line]
    first, last = lines[0], lines[-1]
    state = json.loads((run_dir / "trainer_state.json").read_text())
    train_seconds = next(entry["train_runtime"] for entry in state["log_history"] if "train_loss" in entry)  # the end-of-training summary
    return {
        "wall_s": wall,
        "first_logged_step_s": first_step,
        "train_runtime_s": train_seconds,
        "tokens": last["total_tokens"],
        "effective_tokens_per_s": last["total_tokens"] / train_seconds,
        "peak_rss_mb": peak / 2**20,
        "loss_first_last": (first["loss"], last["loss"]),
    }


PADDING_VARIANTS = {"padded": "padding_free=false", "padding-free": "padding_free=true", "auto (default)": None}


def compare_padding(steps: int, cache: str, overrides: list[str], rounds: int) -> None:
    """Padded vs padding-free batches in interleaved rounds (the order alternates), on a warm feature cache."""
    results: dict[str, list[dict]] = {name: [] for name in PADDING_VARIANTS}
    for round_index in range(rounds):
        names = list(PADDING_VARIANTS) if round_index % 2 == 0 else list(reversed(PADDING_VARIANTS))
        for name in names:
            variant = PADDING_VARIANTS[name]
            results[name].append(measure_training(steps, cache, [*overrides, *([variant] if variant else [])]))
    padded = statistics.median(run["effective_tokens_per_s"] for run in results["padded"])
    print(f"padded vs padding-free, {steps} steps, {rounds} interleaved rounds{', ' + ' '.join(overrides) if overrides else ''}:")
    for name, runs in results.items():
        speed = statistics.median(run["effective_tokens_per_s"] for run in runs)
        runtime = statistics.median(run["train_runtime_s"] for run in runs)
        memory = statistics.median(run["peak_rss_mb"] for run in runs)
        print(
            f"  {name:15s} train {runtime:6.2f} s, {speed:7.0f} effective tokens/s (x{speed / padded:.2f} of padded), "
            f"peak RSS {memory:.0f} MB, final loss {runs[0]['loss_first_last'][1]:.6f}"
        )


def measure_tokenisation(records: int = 10_000) -> dict:
    from workflows.config import load_config
    from workflows.features.build import encode_examples
    from workflows.models.loader import load_tokenizer
    from workflows.templates import get_template

    config = load_config(None, ["template=qwen", "cutoff_len=512"])
    tokenizer = load_tokenizer(config.model)
    template = get_template("qwen", tokenizer)
    examples = [
        {
            "messages": [
                {"role": "user", "content": f"Question {index}: how many apples are left if you eat {index % 7} of {index % 13 + 7}?"},
                {
                    "role": "assistant",
                    "content": f"{index % 13 + 7 - index % 7} apples are left, because {index % 13 + 7} minus {index % 7} is that many.",
                },
            ]
        }
        for index in range(records)
    ]
    start = time.perf_counter()
    encoded = encode_examples(examples, config, tokenizer, template)
    seconds = time.perf_counter() - start
    tokens = sum(len(item["input_ids"]) for item in encoded)
    return {"records": records, "seconds": seconds, "records_per_s": records / seconds, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of padded vs padding-free")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every run")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        os.environ["LLAMABOARD_CACHE"] = cache
        subprocess.run(
            [sys.executable, "-c", "from workflows.models.tiny import build_tiny_model; build_tiny_model()"], cwd=PROJECT_ROOT, check=True
        )
        cold = measure_training(options.steps, cache, options.set)
        warm = measure_training(options.steps, cache, options.set)  # tokenised data now cached
        for label, result in (("cold cache", cold), ("warm cache", warm)):
            print(
                f"train {options.steps} steps ({label}): wall {result['wall_s']:.1f} s, "
                f"first logged step {result['first_logged_step_s']:.2f} s "
                f"(target <= 3 s, ratio {result['first_logged_step_s'] / 3:.2f}), "
                f"{result['effective_tokens_per_s']:.0f} effective tokens/s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB (target <= 500 MB, ratio {result['peak_rss_mb'] / 500:.2f}), "
                f"loss {result['loss_first_last'][0]:.3f} -> {result['loss_first_last'][1]:.3f}",
                flush=True,
            )
        compare_padding(options.steps, cache, options.set, options.rounds)
        tokenisation = measure_tokenisation()
    print(
        f"tokenisation: {tokenisation['records']} records in {tokenisation['seconds']:.2f} s = "
        f"{tokenisation['records_per_s']:.0f} records/s, {tokenisation['tokens_per_s']:.0f} tokens/s"
    )


if __name__ == "__main__":
    main()
