"""Predict throughput and benchmark speed on the built-in tiny model (HF backend), through the CLI.

    python bench/eval_throughput.py [--batch-sizes 1,8,32] [--samples 64] [--questions 100] [key=value ...]

Predict: ``--samples`` identity examples, greedy, 64 new tokens at most, once
per batch size; prints LLaMA-Factory's ``predict_samples_per_second`` and our
``predict_tokens_per_second`` (generated tokens) from predict_results.json —
the generation loop only, without process start and model load.
Benchmark: ``--questions`` MMLU questions (spread over the fixture subjects,
5-shot) from ../shared/fixtures/eval; prints seconds per 100 questions from
the job's progress rows (model load excluded). Extra key=value arguments go
to every command (e.g. model_name_or_path=saves/identity).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "eval"


def run(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "workflows", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])


def seconds(text: str) -> int:
    hours, minutes, secs = (int(part) for part in text.split(":"))
    return int(timedelta(hours=hours, minutes=minutes, seconds=secs).total_seconds())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--questions", type=int, default=100)
    options, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as folder:
        for size in map(int, options.batch_sizes.split(",")):
            out = Path(folder) / f"predict{size}"
            common = ["eval_dataset=identity", f"max_samples={options.samples}", "do_sample=false", "max_new_tokens=64"]
            run(["predict", *common, f"per_device_eval_batch_size={size}", f"output_dir={out}", *extra])
            results = json.loads((out / "predict_results.json").read_text())
            print(
                f"predict batch {size:>3}: {results['predict_samples_per_second']:8.2f} samples/s "
                f"{results['predict_tokens_per_second']:9.1f} tokens/s  (BLEU-4 {results['predict_bleu-4']:.2f})"
            )
        if FIXTURES.is_dir():
            per_subject = -(-options.questions // 4)
            out = Path(folder) / "mmlu"
            run(["eval", "task=mmlu_test", f"task_dir={FIXTURES}", f"max_samples={per_subject}", "batch_size=8", f"save_dir={out}", *extra])
            rows = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
            elapsed, questions = seconds(rows[-1]["elapsed_time"]), rows[-1]["current_steps"]
            print(f"benchmark mmlu_test 5-shot, batch 8: {questions} questions in {elapsed} s = {100 * elapsed / questions:.1f} s per 100")


if __name__ == "__main__":
    main()
