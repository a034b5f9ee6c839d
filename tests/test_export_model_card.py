"""The exported model's card lists the scores of the finished evaluation jobs of exactly the exported model (issue 12 item 1).

Job folders are written by hand in the engine's formats (run.yaml, status.json, predict_results.json,
results.json); the jobs that write them are tested in tests/test_eval_*.py. In-process, no model loaded.
"""

import json
from pathlib import Path

import yaml

from workflows.config import RunConfig
from workflows.export.model_card import model_card

RUN = "saves/llamaboard-tiny/lora/identity"


def write_job(saves: Path, name: str, kind: str, config: dict, files: dict, state: str = "finished") -> None:
    job = saves / "llamaboard-tiny" / kind / name
    job.mkdir(parents=True)
    (job / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", "finetuning_type": "lora", **config}))
    (job / "status.json").write_text(json.dumps({"kind": kind, "state": state, "pid": 1}))
    for file_name, payload in files.items():
        (job / file_name).write_text(json.dumps(payload))


def card_for(workdir: Path, **source) -> str:
    config = RunConfig.from_flat_dict({"model_name_or_path": "llamaboard-tiny", "export_dir": "out", **source}, source="the test")
    adapters = [source["adapter_name_or_path"]] if source.get("adapter_name_or_path") else []
    return model_card(config, "", adapters, "qwen", ["python", "-m", "workflows", "export"], saves_dir=workdir / "saves")


def test_the_card_lists_the_predict_and_benchmark_scores_of_exactly_the_exported_adapters(tmp_path):
    saves, run = tmp_path / "saves", tmp_path / RUN
    (run / "checkpoint-5").mkdir(parents=True)
    (run / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", "finetuning_type": "lora"}))
    predict = {"predict_bleu-4": 41.25, "predict_rouge-l": 55.5}
    benchmark = {"task": "mmlu_test", "categories": {"Average": {"accuracy": 31.0}}}
    # the predict job names the run relative to the workdir, the export gives its absolute path: the same folder
    write_job(saves, "predict_run", "predict", {"adapter_name_or_path": RUN, "eval_dataset": "identity"}, {"predict_results.json": predict})
    write_job(saves, "mmlu_run", "eval", {"adapter_name_or_path": str(run), "task": "mmlu_test"}, {"results.json": benchmark})
    others = {  # each evaluated something else, or did not finish: none is listed for the run
        "predict_base": ({}, "finished"),
        "predict_checkpoint": ({"adapter_name_or_path": f"{RUN}/checkpoint-5"}, "finished"),
        "predict_failed": ({"adapter_name_or_path": RUN}, "failed"),
    }
    for number, (name, (config, state)) in enumerate(others.items()):
        scores = {"predict_bleu-4": 90.0 + number, "predict_rouge-l": 1.0}
        write_job(saves, name, "predict", {**config, "dataset": "identity"}, {"predict_results.json": scores}, state)
    loss = {"eval_loss": 1.5, "perplexity": 4.4817}
    write_job(saves, "loss_checkpoint", "eval", {"model_name_or_path": f"{RUN}/checkpoint-5", "eval_dataset": "identity"},
              {"eval_results.json": loss})  # fmt: skip

    card = card_for(tmp_path, adapter_name_or_path=str(run))
    evaluation = card.split("## Evaluation", 1)[1].split("## Export", 1)[0]
    assert "| `saves/llamaboard-tiny/predict/predict_run` | BLEU-4 · identity | 41.2500 |" in evaluation
    assert "| `saves/llamaboard-tiny/predict/predict_run` | ROUGE-L · identity | 55.5000 |" in evaluation
    assert "| `saves/llamaboard-tiny/eval/mmlu_run` | mmlu_test · accuracy | 31.0000 |" in evaluation
    assert not any(other in evaluation for other in [*others, "loss_checkpoint"]) and "90.0" not in evaluation

    base_card = card_for(tmp_path)  # the base model alone: its own evaluation only
    assert "predict_base" in base_card and "predict_run" not in base_card and "predict_checkpoint" not in base_card
    checkpoint_card = card_for(tmp_path, model_name_or_path=str(run / "checkpoint-5"))  # a full run's checkpoint as the model
    assert "| `saves/llamaboard-tiny/eval/loss_checkpoint` | perplexity · identity | 4.4817 |" in checkpoint_card
    assert "predict_checkpoint" not in checkpoint_card  # that job put checkpoint-5 on the base model as an adapter
