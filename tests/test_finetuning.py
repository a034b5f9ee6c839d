"""Each fine-tuning method trains exactly the weights it promises (in-process, a few steps each)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ModelError
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model, load_tokenizer

BASE = ["examples/tiny_lora_sft.yaml", "max_steps=3", "save_steps=3", "logging_steps=1", "dataset=identity"]


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")  # keep pytest's own stdout capture intact


def run(tmp_path, *overrides: str) -> dict:
    output_dir = tmp_path / "run"
    assert main(["train", *BASE, f"output_dir={output_dir}", *overrides]) == 0
    return json.loads((output_dir / "status.json").read_text())


def base_weights(tiny_model_dir) -> dict[str, torch.Tensor]:
    return load_file(tiny_model_dir / "model.safetensors")


def test_full_finetuning_changes_every_layer(tmp_path, tiny_model_dir):
    run(tmp_path, "finetuning_type=full")
    trained = load_file(tmp_path / "run" / "model.safetensors")
    before = base_weights(tiny_model_dir)
    for layer in range(4):
        name = f"model.layers.{layer}.mlp.down_proj.weight"
        assert not torch.equal(trained[name], before[name]), f"{name} did not train"


def test_freeze_trains_only_the_last_layers(tmp_path, tiny_model_dir):
    run(tmp_path, "finetuning_type=freeze", "freeze_trainable_layers=1")
    trained = load_file(tmp_path / "run" / "model.safetensors")
    before = base_weights(tiny_model_dir)
    assert not torch.equal(trained["model.layers.3.mlp.down_proj.weight"], before["model.layers.3.mlp.down_proj.weight"])
    for layer in range(3):
        name = f"model.layers.{layer}.mlp.down_proj.weight"
        assert torch.equal(trained[name], before[name]), f"{name} should be frozen"


@pytest.mark.parametrize(
    "overrides, adapter_key",
    [
        ((), "lora_B"),
        (("use_dora=true",), "lora_magnitude_vector"),
        (("use_rslora=true", "lora_target=q_proj,v_proj"), "lora_B"),
        (("loraplus_lr_ratio=16",), "lora_B"),
        (("pissa_init=true", "pissa_iter=2"), "lora_B"),
    ],
)
def test_lora_variants_train_an_adapter(tmp_path, overrides, adapter_key):
    run(tmp_path, *overrides)
    adapter = load_file(tmp_path / "run" / "adapter_model.safetensors")
    trained = [name for name in adapter if adapter_key in name]
    assert trained, f"no {adapter_key} weights in the adapter"
    if adapter_key == "lora_B" and "pissa_init=true" not in overrides:
        assert any(adapter[name].abs().sum() > 0 for name in trained), "LoRA B matrices never moved from zero"
    config = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    if "use_rslora=true" in overrides:
        assert config["use_rslora"] and sorted(config["target_modules"]) == ["q_proj", "v_proj"]


def test_training_continues_an_adapter_or_stacks_a_new_one(tmp_path):
    first = tmp_path / "first"
    assert main(["train", *BASE, f"output_dir={first}"]) == 0
    continued = tmp_path / "continued"
    assert main(["train", *BASE, f"output_dir={continued}", f"adapter_name_or_path={first}"]) == 0
    stacked = tmp_path / "stacked"
    assert main(["train", *BASE, f"output_dir={stacked}", f"adapter_name_or_path={first}", "create_new_adapter=true", "lora_rank=4"]) == 0
    assert json.loads((continued / "adapter_config.json").read_text())["r"] == 8
    assert json.loads((stacked / "adapter_config.json").read_text())["r"] == 4


def test_pretraining_on_text_with_packing(tmp_path):
    status = run(tmp_path, "stage=pt", "dataset=pretrain_demo", "packing=true", "cutoff_len=128")
    assert status["state"] == "finished"


def test_evaluation_early_stopping_and_best_model(tmp_path):
    run(
        tmp_path,
        "val_size=0.2",
        "eval_strategy=steps",
        "eval_steps=1",
        "load_best_model_at_end=true",
        "early_stopping_steps=2",
        "max_steps=6",
        "save_steps=1",
    )
    lines = [json.loads(line) for line in (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()]
    assert [line["current_steps"] for line in lines if "eval_loss" in line][:3] == [1, 2, 3]
    assert json.loads((tmp_path / "run" / "all_results.json").read_text())["eval_loss"] > 0


def test_an_evaluation_at_the_last_step_is_not_run_and_logged_twice(tmp_path):
    run(tmp_path, "val_size=0.2", "eval_strategy=steps", "eval_steps=2", "max_steps=4")
    lines = [json.loads(line) for line in (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()]
    evaluated = [line for line in lines if "eval_loss" in line]
    assert [line["current_steps"] for line in evaluated] == [2, 4]
    assert json.loads((tmp_path / "run" / "eval_results.json").read_text())["eval_loss"] == evaluated[-1]["eval_loss"]


def test_second_run_reuses_the_tokenised_cache(tmp_path, caplog):
    caplog.set_level("INFO")
    settings_used_by_no_other_test = "cutoff_len=301"
    run(tmp_path, "overwrite_output_dir=true", settings_used_by_no_other_test)
    assert "Tokenised" in caplog.text and "from cache" not in caplog.text
    caplog.clear()
    run(tmp_path, "overwrite_output_dir=true", settings_used_by_no_other_test)
    assert "Loaded tokenised data from cache" in caplog.text
    caplog.clear()
    run(tmp_path, "overwrite_output_dir=true", "cutoff_len=302")
    assert "from cache" not in caplog.text


def test_quantization_without_a_gpu_is_a_clear_error(tiny_model_dir):
    # CPU machine: bitsandbytes QLoRA needs CUDA, so the loader must say so instead of crashing.
    config = load_config(None, ["quantization_bit=4"])
    tokenizer = load_tokenizer(config.model)
    if torch.cuda.is_available():
        pytest.skip("this check is for machines without CUDA")
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        load_model(config.model, tokenizer)


def test_missing_local_model_folder_is_a_clear_error():
    with pytest.raises(ModelError, match="does not exist"):
        load_tokenizer(load_config(None, ["model_name_or_path=./no/such/model"]).model)


def test_gradient_checkpointing_neftune_and_eager_attention_train(tmp_path):
    status = run(tmp_path, "gradient_checkpointing=true", "neftune_noise_alpha=5", "flash_attn=disabled")
    assert status["state"] == "finished"


def test_rope_scaling_extends_the_context(tiny_model_dir):
    config = load_config(None, ["rope_scaling=linear", "cutoff_len=8192"])
    model = load_model(config.model, load_tokenizer(config.model), cutoff_len=8192)
    assert model.config.rope_parameters["rope_type"] == "linear" and model.config.rope_parameters["factor"] == 2.0
    prepared = prepare_for_training(model, config.model, config.finetuning, gradient_checkpointing=False)
    assert any(parameter.requires_grad for parameter in prepared.parameters())
