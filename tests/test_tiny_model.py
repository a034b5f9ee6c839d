"""The built-in model is built offline, deterministically, and is a real ChatML Qwen2."""

import hashlib

import pytest
from transformers import AutoConfig, AutoTokenizer

from workflows.config import load_config
from workflows.errors import ModelError
from workflows.models.loader import load_tokenizer
from workflows.models.tiny import build_tiny_model


def _digest(folder, name):
    return hashlib.sha256((folder / name).read_bytes()).hexdigest()


def test_two_builds_give_identical_files(tmp_path):
    first, second = build_tiny_model(tmp_path / "a"), build_tiny_model(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _digest(first, name) == _digest(second, name), f"{name} differs between builds"
    assert sum(path.stat().st_size for path in first.iterdir()) < 10 * 2**20


def test_built_model_is_a_chatml_qwen2(tiny_model_dir):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert config.model_type == "qwen2"
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Who are you?"}], tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    # trained on the demo data with the identity placeholders filled: the assistant's name is a few tokens, not bytes
    assert len(tokenizer.tokenize(" LlamaBoard Assistant")) <= 4


def test_an_unreachable_hub_model_is_a_clear_error():
    # This machine has no model hub (HF_HUB_OFFLINE=1 in conftest): the loader must say so and suggest a local folder.
    with pytest.raises(ModelError) as error:
        load_tokenizer(load_config(None, ["model_name_or_path=Qwen/Qwen2.5-0.5B-Instruct"]).model)
    assert "Qwen/Qwen2.5-0.5B-Instruct" in str(error.value) and "local folder" in str(error.value)
