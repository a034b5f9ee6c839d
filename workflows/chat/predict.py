"""`python -m workflows predict`: answer every example of `dataset` and write what the model said.

The output is LLaMA-Factory's ``generated_predictions.jsonl``: one
``{"prompt", "predict", "label"}`` object per line, in dataset order, where
``prompt`` is the exact text the model saw and ``label`` the dataset's answer.
Examples are generated ``per_device_eval_batch_size`` at a time, left-padded.
"""

import json
from pathlib import Path

from workflows.chat.backends import load_engine
from workflows.config import RunConfig
from workflows.data import load_examples
from workflows.errors import ConfigError, DatasetError

PREDICTIONS_FILE = "generated_predictions.jsonl"


def predict(config: RunConfig) -> Path:
    from tqdm import tqdm

    if not config.data.dataset:
        raise DatasetError("Nothing to predict: set `dataset` to one or more names from dataset_info.json.")
    if not config.training.output_dir:
        raise ConfigError(f"Set `output_dir`: predict writes {PREDICTIONS_FILE} there.")
    examples = load_examples(config.data, config.data.dataset, "sft", seed=config.training.seed)
    engine = load_engine(config)
    output = Path(config.training.output_dir) / PREDICTIONS_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    size = config.training.per_device_eval_batch_size
    with output.open("w", encoding="utf-8") as file, tqdm(total=len(examples), desc="predict", unit="example") as progress:
        for start in range(0, len(examples), size):
            prompts = [example["messages"][:-1] for example in examples[start : start + size]]
            for example, prompt, response in zip(examples[start : start + size], prompts, engine.batch(prompts)):
                record = {
                    "prompt": engine.decode(engine.encode(prompt)),
                    "predict": response.text,
                    "label": example["messages"][-1]["content"],
                }
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
            progress.update(len(prompts))
    print(f"Wrote {len(examples)} predictions to {output}", flush=True)
    return output
