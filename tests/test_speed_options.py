"""The GPU speed options a user expects: each is accepted and reaches what runs it, or is refused before the model loads.

FlashAttention-2 and Liger need their packages and a CUDA GPU (this machine has neither);
torch_compile and fused AdamW are TrainingArguments keys that run here too.
"""

import importlib.util

import pytest
import torch
from transformers import AutoModelForCausalLM

from workflows.config import load_config
from workflows.errors import ModelError
from workflows.models.loader import load_model, load_tokenizer
from workflows.train.trainer import LlamaBoardTrainer, training_arguments


@pytest.fixture
def no_weights_load(monkeypatch):
    """Fail the test if any model weights start to load."""

    def load(*args, **kwargs):
        raise AssertionError("the model started to load before the speed option was refused")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", load)


@pytest.fixture
def installed(monkeypatch):
    """Pretend the named optional packages are installed (only their presence is checked before loading)."""
    real_find_spec = importlib.util.find_spec

    def pretend(*modules: str) -> None:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: object() if name in modules else real_find_spec(name, *rest))

    return pretend


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_fa2_without_flash_attn_is_refused_before_the_model_loads_naming_the_key_and_the_fix(no_weights_load, no_cuda):
    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash_attn is installed here")
    config = load_config(None, ["flash_attn=fa2"])
    with pytest.raises(ModelError) as error:
        load_model(config.model, load_tokenizer(config.model))
    message = str(error.value)
    assert "`flash_attn: fa2` needs the flash_attn package" in message
    assert "pip install flash-attn --no-build-isolation" in message and "`flash_attn: auto`" in message


def test_fa2_without_a_gpu_is_refused_before_the_model_loads(no_weights_load, no_cuda, installed):
    installed("flash_attn")
    config = load_config(None, ["flash_attn=fa2"])
    with pytest.raises(ModelError, match=r"`flash_attn: fa2` needs a CUDA GPU .*set `flash_attn: auto`"):
        load_model(config.model, load_tokenizer(config.model))


@pytest.mark.parametrize("key", ["enable_liger_kernel", "use_liger_kernel"])
def test_liger_by_either_name_is_refused_before_the_model_loads(key, no_weights_load, no_cuda, installed):
    installed("liger_kernel")
    config = load_config(None, [f"{key}=true"])
    assert config.model.enable_liger_kernel
    with pytest.raises(ModelError, match=r"`enable_liger_kernel: true` needs a CUDA GPU .*remove enable_liger_kernel"):
        load_model(config.model, load_tokenizer(config.model))


def test_torch_compile_reaches_the_trainer_with_inductor(tmp_path):
    args = training_arguments(load_config(None, ["torch_compile=true"]), tmp_path, show_progress=False)
    assert args.torch_compile and args.torch_compile_backend == "inductor"


def test_fused_adamw_trains_on_this_machine(tmp_path):
    config = load_config(None, ["optim=adamw_torch_fused", "finetuning_type=full", "learning_rate=1e-2"])
    model = load_model(config.model, load_tokenizer(config.model))
    trainer = LlamaBoardTrainer(model=model, args=training_arguments(config, tmp_path, show_progress=False))
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True
    before = model.lm_head.weight.detach().clone()
    input_ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    model(input_ids=input_ids, labels=input_ids).loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.lm_head.weight)


def test_the_train_command_refuses_fa2_before_tokenising_in_float32_and_without_its_package(tmp_path, capsys):
    from workflows.cli import main

    run = ["train", "examples/tiny_lora_sft.yaml", "flash_attn=fa2", f"output_dir={tmp_path / 'run'}"]
    assert main(run) == 2
    assert "`flash_attn: fa2` computes in half precision only: set `bf16: true`" in capsys.readouterr().err
    if importlib.util.find_spec("flash_attn") is None:
        assert main([*run, "bf16=true"]) == 2
        assert "`flash_attn: fa2` needs the flash_attn package" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run directory, let alone the tokenised data
