"""Adapter and model methods of issue 15: OFT, LLaMA Pro, pure bf16, LoRA+ embeddings, and clear refusals (PiSSA: test_pissa_checkpoints).

Each trains the built-in tiny model for a few steps in-process and checks what a
user would notice: the adapter reloads for chat and export as the model it trained,
the expanded model answers as the original did, only the new blocks learn.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ConfigError, ModelError
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import load_model, load_tokenizer, merge_adapters

BASE = [
    "examples/tiny_lora_sft.yaml",
    "max_steps=2",
    "save_steps=2",
    "logging_steps=1",
    "dataset=identity",
    "per_device_train_batch_size=2",
]
PROMPT = torch.tensor([[5, 17, 42, 99, 7, 300, 12, 8]])


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")  # keep pytest's own stdout capture intact


def train(output_dir: Path, *overrides: str) -> list[float]:
    """Train in-process; the logged losses."""
    assert main(["train", *BASE, f"output_dir={output_dir}", *overrides]) == 0
    lines = (output_dir / "trainer_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"loss"' in line]


def logits_of(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(PROMPT).logits


def base_model(**keys):
    config = load_config(None, keys)
    return load_model(config.model, load_tokenizer(config.model))


def test_oft_trains_an_adapter_that_chat_and_export_load_as_trained(tmp_path):
    from peft import PeftModel

    run = tmp_path / "oft"
    losses = train(run, "finetuning_type=oft", "oft_block_size=16", "module_dropout=0.1")
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    adapter_config = json.loads((run / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "OFT" and adapter_config["oft_block_size"] == 16
    assert any("oft_R" in name for name in load_file(run / "adapter_model.safetensors"))

    as_trained = logits_of(PeftModel.from_pretrained(base_model(), str(run)))
    merged_for_chat = logits_of(merge_adapters(base_model(), [str(run)]))  # what chat and export load
    assert torch.allclose(merged_for_chat, as_trained, atol=1e-4)
    assert not torch.allclose(merged_for_chat, logits_of(base_model()), atol=1e-4), "the OFT adapter changed nothing"

    export_dir = tmp_path / "exported"
    assert (
        main(["export", f"adapter_name_or_path={run}", "finetuning_type=oft", f"export_dir={export_dir}", f"output_dir={tmp_path / 'job'}"])
        == 0
    )
    assert torch.allclose(logits_of(base_model(model_name_or_path=str(export_dir))), as_trained, atol=1e-4)


def test_expanded_model_answers_like_the_original_and_llama_pro_trains_only_the_new_blocks(tmp_path, tiny_model_dir):
    expanded = tmp_path / "expanded"
    assert main(["expand", "num_expand=2", f"output_dir={expanded}"]) == 0
    assert json.loads((expanded / "config.json").read_text())["num_hidden_layers"] == 6
    assert torch.allclose(logits_of(base_model(model_name_or_path=str(expanded))), logits_of(base_model()), atol=1e-6)

    run = tmp_path / "pro"
    train(run, f"model_name_or_path={expanded}", "finetuning_type=freeze", "use_llama_pro=true", "freeze_trainable_layers=2")
    before, after = load_file(expanded / "model.safetensors"), load_file(run / "model.safetensors")
    changed = {
        int(name.split(".")[2]) for name in before if name.startswith("model.layers.") and not torch.equal(before[name], after[name])
    }
    assert changed == {2, 5}, "only the blocks expand added (after the 2nd and 4th original block) may train"

    for adapter in ("lora", "oft"):
        config = load_config(None, [f"model_name_or_path={expanded}", f"finetuning_type={adapter}", "use_llama_pro=true"])
        model = prepare_for_training(
            base_model(model_name_or_path=str(expanded)), config.model, config.finetuning, gradient_checkpointing=False
        )
        trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
        assert {int(name.split("layers.")[1].split(".")[0]) for name in trainable} == {2, 5}, adapter
        assert {name.split(".")[-4] for name in trainable} >= {"q_proj", "o_proj", "down_proj"}, adapter  # every linear layer there


def test_pure_bf16_trains_in_bfloat16_without_mixed_precision(tmp_path):
    run = tmp_path / "bf16"
    losses = train(run, "pure_bf16=true")
    assert all(torch.isfinite(torch.tensor(losses)))
    adapter = load_file(run / "adapter_model.safetensors")
    assert {tensor.dtype for tensor in adapter.values()} == {torch.bfloat16}


def test_loraplus_gives_lora_on_embeddings_its_own_learning_rate(tmp_path):
    from workflows.train.trainer import LlamaBoardTrainer, training_arguments

    config = load_config(
        None, ["lora_target=embed_tokens,q_proj", "loraplus_lr_ratio=16", "loraplus_lr_embedding=3e-5", "learning_rate=1e-3"]
    )
    model = prepare_for_training(base_model(), config.model, config.finetuning, gradient_checkpointing=False)
    trainer = LlamaBoardTrainer(model=model, args=training_arguments(config, tmp_path, False), loraplus_lr_ratio=16)
    optimizer = trainer.create_optimizer()
    embedding_ids = {id(parameter) for name, parameter in model.named_parameters() if "lora_embedding" in name}
    rates = {group["lr"] for group in optimizer.param_groups if any(id(parameter) in embedding_ids for parameter in group["params"])}
    assert embedding_ids and rates == {3e-5}


@pytest.mark.parametrize(
    "keys, needs",
    [
        ({"enable_liger_kernel": True}, "enable_liger_kernel: true` needs"),
        ({"use_unsloth": True}, "use_unsloth: true` needs"),
    ],
)
def test_speedups_and_quantizers_that_cannot_run_here_say_what_they_need(keys, needs):
    if torch.cuda.is_available():
        pytest.skip("this check is for machines without CUDA")
    config = load_config(None, keys)
    with pytest.raises(ModelError, match=needs) as error:
        prepare_for_training(
            load_model(config.model, load_tokenizer(config.model)), config.model, config.finetuning, gradient_checkpointing=False
        )
    assert "CUDA GPU" in str(error.value) or "pip install" in str(error.value)


def test_hqq_is_refused_from_the_config_with_the_reason_before_anything_loads():
    refused = r"`quantization_method: hqq` is not supported .*transformers 5\.23.*use quantization_method: bnb"
    with pytest.raises(ConfigError, match=refused):
        load_config(None, {"quantization_bit": 4, "quantization_method": "hqq"})


def test_loftq_and_expand_refuse_clearly(tmp_path, capsys):
    if not torch.cuda.is_available():
        assert main(["loftq", f"output_dir={tmp_path / 'loftq'}"]) == 2
        assert "`loftq` needs a CUDA GPU" in capsys.readouterr().err
    assert main(["expand", "num_expand=3", f"output_dir={tmp_path / 'expanded'}"]) == 2
    assert "`num_expand: 3` must divide the model's 4 blocks" in capsys.readouterr().err


LLAMA_FACTORY_STYLE = {
    "oft": """
### model
model_name_or_path: llamaboard-tiny
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: oft
oft_block_size: 32
oft_target: all

### dataset
dataset: identity
template: qwen
cutoff_len: 2048
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: saves/tiny/oft/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null
""",
    "pissa": """
model_name_or_path: llamaboard-tiny
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
pissa_init: true
pissa_iter: 16
pissa_convert: true
dataset: identity
output_dir: saves/tiny/lora/pissa
""",
    "llama_pro": """
model_name_or_path: saves/tiny-pro
stage: sft
do_train: true
finetuning_type: freeze
freeze_trainable_layers: 2
freeze_trainable_modules: all
use_llama_pro: true
dataset: identity
output_dir: saves/tiny-pro/freeze/sft
""",
    "on_the_fly_quantization": """
model_name_or_path: llamaboard-tiny
quantization_bit: 4
quantization_method: bnb  # choices: [bnb (4/8), hqq (2/3/4/5/6/8), eetq (8)], as LLaMA-Factory's otfq example writes it
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
dataset: identity
output_dir: saves/tiny/lora/otfq
""",
}


@pytest.mark.parametrize("name", sorted(LLAMA_FACTORY_STYLE))
def test_llamafactory_style_configs_load_unchanged(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(LLAMA_FACTORY_STYLE[name])
    flat = load_config(path).to_flat_dict()
    written = {
        key: value for line in LLAMA_FACTORY_STYLE[name].splitlines() if ": " in line for key, value in [line.split("#")[0].split(": ")]
    }
    for key in ("finetuning_type", "oft_block_size", "pissa_convert", "use_llama_pro", "quantization_method"):
        if key in written:
            assert str(flat[key]).lower() == written[key].strip().lower(), key
