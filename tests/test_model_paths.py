"""Where model_name_or_path points at an adapter rather than a model, the message says which key takes it."""

import json

import pytest
import yaml

from workflows.config.schema import ModelArgs
from workflows.errors import ModelError
from workflows.models.loader import load_model_config


def adapter_folder(path, base: str):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": base}))
    return path


def test_a_lora_run_given_as_the_model_names_adapter_name_or_path_and_the_model_it_was_trained_on(tmp_path):
    run = tmp_path / "run"
    checkpoint = adapter_folder(run / "checkpoint-15", "/cache/llamaboard-tiny-7c81")
    (run / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny"}))
    with pytest.raises(ModelError) as raised:
        load_model_config(ModelArgs(model_name_or_path=str(checkpoint)))
    message = str(raised.value)
    assert f"adapter_name_or_path={checkpoint}" in message
    assert "(llamaboard-tiny)" in message  # as the run named it, not peft's cache path


def test_a_plain_peft_adapter_names_the_base_model_peft_saved(tmp_path):
    with pytest.raises(ModelError, match=r"adapter_name_or_path=.*\(Qwen/Qwen2\.5-0\.5B\)"):
        load_model_config(ModelArgs(model_name_or_path=str(adapter_folder(tmp_path / "adapter", "Qwen/Qwen2.5-0.5B"))))


def test_a_folder_with_a_model_config_beside_an_adapter_config_loads_as_a_model(tmp_path, tiny_model_dir):
    folder = adapter_folder(tmp_path / "merged", "base")
    (folder / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    assert load_model_config(ModelArgs(model_name_or_path=str(folder))).model_type == "qwen2"  # the built-in model's architecture
