"""`python -m workflows predict`: answer every example of `dataset` and write what the model said.

A predict job like any other (``run_job``): its run directory holds
``run.yaml``, ``status.json``, progress rows in ``trainer_log.jsonl`` and
LLaMA-Factory's ``generated_predictions.jsonl``: one ``{"prompt", "predict",
"label"}`` object per line, in dataset order, where ``prompt`` is the exact
text the model saw and ``label`` the dataset's answer. Examples are generated
``per_device_eval_batch_size`` at a time, left-padded; SIGTERM stops after the
current batch and keeps the predictions written so far.
"""

import json
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import DatasetError
from workflows.jobs import Outcome, ProgressLog, StopSignal, run_job
from workflows.run_dir import RunDirectory, default_job_name, job_folder

PREDICTIONS_FILE = "generated_predictions.jsonl"


def default_predict_dir(config: RunConfig) -> Path:
    return job_folder(
        Path("saves"), "predict", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("predict")
    )


def predict_command(config: RunConfig, argv: list[str]) -> int:
    """Run predict as a job in ``output_dir`` (default ``saves/<model>/predict/predict_<time>``); returns the exit code."""
    if not config.data.dataset:
        raise DatasetError("Nothing to predict: set `dataset` to one or more names from dataset_info.json.")
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


def predict(config: RunConfig, run_dir: RunDirectory, stop: StopSignal) -> int:
    """Write the predictions batch by batch; returns how many were written (fewer when stopped)."""
    from workflows.chat.backends import load_engine
    from workflows.data import load_examples

    examples = load_examples(config.data, config.data.dataset, "sft", seed=config.training.seed)
    engine = load_engine(config)
    progress = ProgressLog(run_dir, len(examples))
    progress.update(0)
    size, written = config.training.per_device_eval_batch_size, 0
    with (run_dir.path / PREDICTIONS_FILE).open("w", encoding="utf-8") as file:
        for start in range(0, len(examples), size):
            if stop.received:
                break
            batch = examples[start : start + size]
            prompts = [example["messages"][:-1] for example in batch]
            for example, prompt, response in zip(batch, prompts, engine.batch(prompts)):
                record = {
                    "prompt": engine.decode(engine.encode(prompt)),
                    "predict": response.text,
                    "label": example["messages"][-1]["content"],
                }
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
            file.flush()
            written += len(batch)
            progress.update(written)
    print(f"Wrote {written} predictions to {run_dir.path / PREDICTIONS_FILE}", flush=True)
    return written
