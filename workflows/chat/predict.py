"""`python -m workflows predict`: answer every example of a dataset, and score the answers with BLEU-4 and ROUGE.

LLaMA-Factory's ``do_predict`` with ``predict_with_generate``: the examples of
``eval_dataset`` (or ``dataset`` when no eval_dataset is set) are generated
``per_device_eval_batch_size`` at a time, left-padded, with the config's
generation settings (set ``do_sample: false`` for reproducible scores). A job
like any other (``run_job``); its run directory holds ``run.yaml``,
``status.json``, progress rows in ``trainer_log.jsonl`` (counted in examples) and:

- ``generated_predictions.jsonl`` (LLaMA-Factory's): one ``{"prompt", "predict",
  "label"}`` per line, in dataset order; ``prompt`` is the exact text the model
  saw, ``label`` the dataset's answer;
- ``predict_scores.jsonl``: line i holds ``{"bleu-4", "rouge-1", "rouge-2",
  "rouge-l"}`` (percent) of line i of generated_predictions.jsonl; kept apart so
  the LLaMA-Factory file stays byte-compatible with its tools;
- ``predict_results.json``: LLaMA-Factory's averaged metrics ``predict_bleu-4``,
  ``predict_rouge-1``, ``predict_rouge-2``, ``predict_rouge-l`` (mean of the
  rows), ``predict_runtime``, ``predict_samples_per_second``,
  ``predict_steps_per_second``, plus ``predict_tokens_per_second`` (generated
  tokens), ``predict_samples`` and ``complete``.

Metrics follow ``workflows/eval/metrics.py``. Every example needs a reference
answer: examples without one are dropped, and a dataset with none is refused
before anything is generated. SIGTERM
stops after the current batch; the predictions, their scores and
predict_results.json cover the batches done (``complete`` false).
"""

import json
import time
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError, DatasetError
from workflows.jobs import Outcome, ProgressLog, StopSignal, run_job
from workflows.run_dir import (
    PREDICT_RESULTS_FILE,
    PREDICT_SCORES_FILE,
    PREDICTIONS_FILE,
    RunDirectory,
    default_job_name,
    job_folder,
    write_json_atomic,
)


def predict_dataset(config: RunConfig) -> str:
    return config.data.eval_dataset or config.data.dataset


def default_predict_dir(config: RunConfig) -> Path:
    return job_folder(
        Path("saves"), "predict", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("predict")
    )


def predict_command(config: RunConfig, argv: list[str]) -> int:
    """Run predict as a job in ``output_dir`` (default ``saves/<model>/predict/predict_<time>``); returns the exit code."""
    if not predict_dataset(config):
        raise DatasetError("Nothing to predict: set `eval_dataset` (or `dataset`) to one or more names from dataset_info.json.")
    if not config.training.predict_with_generate:
        raise ConfigError(
            "`predict_with_generate: false` is not supported: predict generates answers and scores them with BLEU/ROUGE. "
            "For loss and perplexity without generation, run `python -m workflows eval` with eval_dataset."
        )
    config = config.replace(output_dir=str(config.training.output_dir or default_predict_dir(config)))
    run_dir = RunDirectory(Path(config.training.output_dir), "predict")
    run_dir.check_writable(overwrite=True, resuming=False)

    def work(stop: StopSignal) -> Outcome:
        config.write_yaml(run_dir.config_path)
        written = predict(config, run_dir, stop)
        if stop.received:
            return Outcome("aborted", f"Aborted by {stop.received} after {written} predictions (kept in {PREDICTIONS_FILE}).")
        return Outcome("finished")

    return run_job(run_dir, ["predict", *argv], work)


def load_references(config: RunConfig) -> list[dict]:
    """The examples to predict, each ending with its reference answer.

    The data layer drops examples whose answer is empty (logging each) and refuses a dataset with none left,
    naming the dataset and the first reason.
    """
    from workflows.data import load_examples

    return load_examples(config.data, predict_dataset(config), "sft", seed=config.training.seed)


def predict(config: RunConfig, run_dir: RunDirectory, stop: StopSignal) -> int:
    """Write predictions and their scores batch by batch, then the averages; returns how many were written (fewer when stopped)."""
    from workflows.chat.backends import load_engine
    from workflows.eval.checkpoints import check_adapters_match_base
    from workflows.eval.metrics import average_scores, similarity_scores

    check_adapters_match_base(config.model)
    examples = load_references(config)
    engine = load_engine(config)
    progress = ProgressLog(run_dir, len(examples))
    progress.update(0)
    size, scores, generated, steps = config.training.per_device_eval_batch_size, [], 0, 0
    started = time.monotonic()
    with (
        (run_dir.path / PREDICTIONS_FILE).open("w", encoding="utf-8") as predictions,
        (run_dir.path / PREDICT_SCORES_FILE).open("w", encoding="utf-8") as score_lines,
    ):
        for start in range(0, len(examples), size):
            if stop.received:
                break
            batch = examples[start : start + size]
            prompts = [example["messages"][:-1] for example in batch]
            for example, prompt, response in zip(batch, prompts, engine.batch(prompts)):
                label = example["messages"][-1]["content"]
                record = {"prompt": engine.decode(engine.encode(prompt)), "predict": response.text, "label": label}
                scores.append(similarity_scores(response.text, label))
                predictions.write(json.dumps(record, ensure_ascii=False) + "\n")
                score_lines.write(json.dumps(scores[-1]) + "\n")
                generated += response.response_length
            predictions.flush()
            score_lines.flush()
            steps += 1
            progress.update(len(scores))
    runtime = time.monotonic() - started
    results = {
        **average_scores(scores),
        "predict_runtime": round(runtime, 4),
        "predict_samples_per_second": round(len(scores) / runtime, 3) if runtime else None,
        "predict_steps_per_second": round(steps / runtime, 3) if runtime else None,
        "predict_tokens_per_second": round(generated / runtime, 3) if runtime else None,
        "predict_samples": len(scores),
        "complete": len(scores) == len(examples),
    }
    write_json_atomic(run_dir.path / PREDICT_RESULTS_FILE, results)
    print(f"Wrote {len(scores)} predictions to {run_dir.path / PREDICTIONS_FILE}", flush=True)
    print(json.dumps(results, indent=2), flush=True)
    return len(scores)
