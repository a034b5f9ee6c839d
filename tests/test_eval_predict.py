"""Predict and loss evaluation on a briefly trained identity model versus the base model, through the CLI.

Also checks that LLaMA-Factory's evaluation-only YAML files run through
`train`: ``do_predict`` (with ``predict_with_generate``) runs the predict job,
``do_eval`` the loss evaluation; and that predict refuses bad input (exit 2) before it generates or writes anything.
"""

import json
import math
import re

import pytest
import yaml

from tests.test_chat_cli import run_cli

NAME = "LlamaBoard Assistant"  # identity_name in examples/tiny_identity_sft.yaml
PREDICT = ["eval_dataset=identity", "max_samples=16", "per_device_eval_batch_size=16", "do_sample=false", "max_new_tokens=32"]


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory, tiny_model_dir):
    """The identity demo trained for 6 epochs instead of 40: enough for it to say its name (about 10 s on 2 idle cores)."""
    output = tmp_path_factory.mktemp("identity")
    result = run_cli(
        "train", "examples/tiny_identity_sft.yaml", f"output_dir={output}", "num_train_epochs=6", "save_steps=10000", "plot_loss=false"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return output


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_predict_scores_the_trained_model_far_above_the_base_model(identity_model, tmp_path):
    llamafactory_yaml = {  # the shape of LLaMA-Factory's examples/train_lora/*_predict.yaml
        "model_name_or_path": str(identity_model),
        "stage": "sft",
        "do_predict": True,
        "finetuning_type": "full",
        "eval_dataset": "identity",
        "max_samples": 16,
        "output_dir": str(tmp_path / "trained"),
        "overwrite_output_dir": True,
        "report_to": "none",
        "per_device_eval_batch_size": 16,
        "predict_with_generate": True,
        "do_sample": False,
        "max_new_tokens": 32,
    }
    config = tmp_path / "predict.yaml"
    config.write_text(yaml.safe_dump(llamafactory_yaml))
    trained = run_cli("train", str(config))
    base = run_cli("predict", *PREDICT, f"output_dir={tmp_path / 'base'}")
    assert trained.returncode == 0 and base.returncode == 0, trained.stderr[-2000:] + base.stderr[-2000:]
    status = json.loads((tmp_path / "trained" / "status.json").read_text())
    assert status["kind"] == "predict"  # `train` ran the predict job, as llamafactory-cli train does

    predictions = read_jsonl(tmp_path / "trained" / "generated_predictions.jsonl")
    assert len(predictions) == 16 and sum(NAME in row["predict"] for row in predictions) >= 12
    trained_bleu = json.loads((tmp_path / "trained" / "predict_results.json").read_text())["predict_bleu-4"]
    base_bleu = json.loads((tmp_path / "base" / "predict_results.json").read_text())["predict_bleu-4"]
    assert trained_bleu > base_bleu + 30, (trained_bleu, base_bleu)


@pytest.mark.slow
def test_eval_loss_and_perplexity_fall_after_training(identity_model, tmp_path):
    trained = run_cli(
        "train",
        f"model_name_or_path={identity_model}",
        "do_eval=true",
        "eval_dataset=identity",
        "max_samples=16",
        f"output_dir={tmp_path / 't'}",
    )
    base = run_cli("eval", "eval_dataset=identity", "max_samples=16", f"output_dir={tmp_path / 'b'}")
    assert trained.returncode == 0 and base.returncode == 0, trained.stderr[-2000:] + base.stderr[-2000:]
    after, before = (json.loads((tmp_path / name / "eval_results.json").read_text()) for name in ("t", "b"))
    assert json.loads((tmp_path / "t" / "status.json").read_text())["kind"] == "eval"
    assert after["complete"] and after["eval_samples"] == before["eval_samples"] > 0 and after["eval_tokens"] == before["eval_tokens"]
    assert after["perplexity"] == pytest.approx(math.exp(after["eval_loss"]), rel=1e-4)
    assert after["eval_loss"] < before["eval_loss"] - 1


def test_train_with_do_predict_and_do_train_is_refused(tiny_model_dir, tmp_path):
    result = run_cli("train", "do_train=true", "do_predict=true", "dataset=identity", f"output_dir={tmp_path}")
    assert result.returncode == 2 and "`do_train: true` with `do_predict: true`" in result.stderr


def test_predict_refuses_answerless_data_and_another_models_adapter_before_generating(tiny_model_dir, tmp_path, monkeypatch):
    from tests.conftest import PROJECT_ROOT
    from workflows.cli import main

    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"blank": {"file_name": "blank.json"}}))
    (tmp_path / "blank.json").write_text(json.dumps([{"instruction": "Who are you?", "output": ""}, {"instruction": "Hi", "output": " "}]))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "peft_type": "LORA"}))
    for name, overrides, message in (
        (
            "blank",
            ["eval_dataset=blank", f"dataset_dir={tmp_path}"],
            r"Dataset `blank` .*all 2 were dropped; the first because .*: empty answer",
        ),
        ("other_base", ["eval_dataset=identity", f"adapter_name_or_path={adapter}"], r"was trained on `Qwen/Qwen2\.5-0\.5B-Instruct`"),
    ):
        out = tmp_path / name
        assert main(["predict", *overrides, f"output_dir={out}"]) == 2, name
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "failed" and re.search(message, status["error"]), status["error"]
        assert not (out / "generated_predictions.jsonl").exists() and not (out / "predict_results.json").exists()
