"""GaLore, APOLLO, BAdam, Adam-mini and Muon train the tiny model the way each promises (in-process, 3 steps each).

Every run sees one fixed batch (4 examples, batch size 4), so the loss must fall;
what makes each method itself is checked where a user could see it: the optimizer
state saved in the checkpoint, and which weights changed.
"""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ConfigError

FIXED_BATCH = [
    "examples/tiny_lora_sft.yaml",
    "finetuning_type=full",
    "dataset=identity",
    "max_samples=4",
    "per_device_train_batch_size=4",
    "max_steps=3",
    "logging_steps=1",
    "warmup_ratio=0",
    "save_steps=3",
]
LINEAR_WEIGHTS_PER_LAYER = 7  # q, k, v, o, gate, up, down
LAYERS = 4


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")


def train(tmp_path, *overrides: str, config_file: Path | None = None) -> Path:
    run_dir = tmp_path / "run"
    head = [str(config_file), *FIXED_BATCH[1:]] if config_file else FIXED_BATCH
    assert main(["train", *head, f"output_dir={run_dir}", *overrides]) == 0
    losses = [line["loss"] for line in map(json.loads, (run_dir / "trainer_log.jsonl").read_text().splitlines()) if "loss" in line]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses), losses
    assert losses[-1] < losses[0], f"the loss did not fall on a fixed batch: {losses}"
    return run_dir


def resume(run_dir: Path, checkpoint: str, *overrides: str, config_file: Path | None = None) -> dict[str, torch.Tensor]:
    """Train again from a checkpoint of the run to the same last step; returns the final weights of the first, uninterrupted run."""
    uninterrupted = load_file(run_dir / "model.safetensors")
    head = [str(config_file), *FIXED_BATCH[1:]] if config_file else FIXED_BATCH
    assert main(["train", *head, f"output_dir={run_dir}", f"resume_from_checkpoint={run_dir / checkpoint}", *overrides]) == 0
    return uninterrupted


def assert_same_weights(run_dir: Path, expected: dict[str, torch.Tensor]) -> None:
    resumed = load_file(run_dir / "model.safetensors")
    for name, weight in expected.items():
        torch.testing.assert_close(resumed[name], weight, rtol=0, atol=1e-6, msg=f"{name} differs after resuming")


def changed_weights(run_dir: Path, tiny_model_dir: Path, checkpoint: str = "") -> set[str]:
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(run_dir / checkpoint / "model.safetensors")
    return {name for name, weight in after.items() if not torch.equal(weight, before[name])}


def saved_optimizer_state(run_dir: Path, checkpoint: str = "checkpoint-3") -> dict:
    # GaLore's projectors are Python objects inside the state, so this file needs the full unpickler
    return torch.load(run_dir / checkpoint / "optimizer.pt", weights_only=False)


def layer(index: int) -> str:
    return f"model.layers.{index}."


def test_galore_from_a_llamafactory_style_config_keeps_projector_state_and_resumes(tmp_path, tiny_model_dir):
    config_file = tmp_path / "galore_full_sft.yaml"
    config_file.write_text(
        """
stage: sft
do_train: true
finetuning_type: full
use_galore: true
galore_layerwise: false
galore_target: mlp,self_attn
galore_rank: 8
galore_update_interval: 2
galore_scale: 2.0
learning_rate: 1.0e-3
lr_scheduler_type: cosine
weight_decay: 0.01
"""
    )
    run_dir = train(tmp_path, "save_steps=2", config_file=config_file)
    state = saved_optimizer_state(run_dir, "checkpoint-2")
    projected = [group for group in state["param_groups"] if "rank" in group]
    assert len(projected) == 1 and projected[0]["rank"] == 8 and projected[0]["update_proj_gap"] == 2
    assert projected[0]["weight_decay"] == 0.01 and {0.0, 0.01} <= {group["weight_decay"] for group in state["param_groups"]}
    projectors = [state["state"][index]["projector"] for index in projected[0]["params"]]
    assert len(projectors) == LAYERS * LINEAR_WEIGHTS_PER_LAYER
    assert all(8 in projector.ortho_matrix.shape for projector in projectors)
    others = [index for group in state["param_groups"] if "rank" not in group for index in group["params"]]
    assert others and not any("projector" in state["state"].get(index, {}) for index in others)
    assert {layer(i) + "mlp.down_proj.weight" for i in range(LAYERS)} <= changed_weights(run_dir, tiny_model_dir)
    assert "galore_torch" in json.loads((run_dir / "provenance.json").read_text())["loaded_optional_packages"]
    assert_same_weights(run_dir, resume(run_dir, "checkpoint-2", "save_steps=2", config_file=config_file))


def test_apollo_layerwise_steps_every_weight_in_the_backward_pass(tmp_path, tiny_model_dir):
    run_dir = train(tmp_path, "use_apollo=true", "apollo_layerwise=true", "apollo_rank=4", "apollo_scale_front=true")
    changed = changed_weights(run_dir, tiny_model_dir)
    assert "model.embed_tokens.weight" in changed and {layer(i) + "self_attn.q_proj.weight" for i in range(LAYERS)} <= changed
    lrs = [line["lr"] for line in map(json.loads, (run_dir / "trainer_log.jsonl").read_text().splitlines())]
    assert lrs[0] > lrs[1] > lrs[2] > 0, f"the schedule did not reach the per-weight optimizers: {lrs}"


def test_badam_layer_mode_trains_one_layer_per_step_in_order_and_resumes_at_its_layer(tmp_path, tiny_model_dir):
    method = ("use_badam=true", "badam_switch_mode=ascending", "badam_switch_interval=1", "save_steps=1")
    run_dir = train(tmp_path, *method)
    for step in (1, 2, 3):
        changed = changed_weights(run_dir, tiny_model_dir, f"checkpoint-{step}")
        assert {name.split(".")[2] for name in changed} == {str(index) for index in range(step)}, (step, sorted(changed))
        assert all(name.startswith("model.layers.") for name in changed)  # embeddings and the final norm stay frozen
    assert_same_weights(run_dir, resume(run_dir, "checkpoint-1", *method))


def test_badam_ratio_mode_updates_a_slice_of_each_weight(tmp_path, tiny_model_dir):
    run_dir = train(tmp_path, "use_badam=true", "badam_mode=ratio", "badam_update_ratio=0.1")
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(run_dir / "model.safetensors")
    name = layer(1) + "mlp.down_proj.weight"
    share_changed = (after[name] != before[name]).float().mean().item()
    assert 0 < share_changed <= 0.1 + 1e-3, share_changed
    assert torch.equal(after["model.embed_tokens.weight"], before["model.embed_tokens.weight"])


def test_adam_mini_keeps_one_second_moment_per_block(tmp_path):
    run_dir = train(tmp_path, "use_adam_mini=true")
    states = saved_optimizer_state(run_dir)["state"].values()
    first_moment = sum(state["m"].numel() for state in states)
    second_moment = sum(state[key].numel() for state in states for key in ("v", "vmean") if key in state)
    assert any("vmean" in state for state in states) and second_moment < first_moment / 20, (second_moment, first_moment)


def test_muon_orthogonalises_hidden_weights_and_follows_the_schedule(tmp_path, tiny_model_dir):
    run_dir = train(tmp_path, "use_muon=true", "warmup_ratio=null", "warmup_steps=1", "save_steps=1")
    assert changed_weights(run_dir, tiny_model_dir, "checkpoint-1") == set(), "step 1 has learning rate 0 during warm-up"
    changed = changed_weights(run_dir, tiny_model_dir)
    assert "model.embed_tokens.weight" in changed and layer(0) + "mlp.up_proj.weight" in changed
    muon, adamw = torch.load(run_dir / "checkpoint-3" / "optimizer.pt")["parts"]
    assert len(muon["state"]) == LAYERS * LINEAR_WEIGHTS_PER_LAYER
    assert all("momentum_buffer" in state for state in muon["state"].values())
    assert all("exp_avg_sq" in state for state in adamw["state"].values())


@pytest.mark.parametrize(
    "method_keys",
    [
        {"use_galore": True, "galore_layerwise": True, "galore_target": "all", "galore_rank": 128, "galore_scale": 2.0},
        {
            "use_apollo": True,
            "apollo_layerwise": True,
            "apollo_target": ["q_proj", "v_proj"],
            "apollo_rank": 256,
            "apollo_scale": 32.0,
            "apollo_scale_type": "channel",
            "apollo_proj": "random",
        },
        {"use_badam": True, "badam_mode": "layer", "badam_switch_mode": "ascending", "badam_switch_interval": 50, "badam_verbose": 2},
        {"use_badam": True, "badam_mode": "ratio", "badam_update_ratio": 0.05, "badam_mask_mode": "scatter"},
    ],
)
def test_llamafactory_method_configs_load_unchanged(tmp_path, method_keys):
    config_file = tmp_path / "full_sft.yaml"
    recipe = {
        "model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct",
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full",
        **method_keys,
        "dataset": "identity,alpaca_en_demo",
        "template": "llama3",
        "cutoff_len": 2048,
        "output_dir": "saves/llama3-8b/full/sft",
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1.0e-5,
        "num_train_epochs": 3.0,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "pure_bf16": True,
        "ddp_timeout": 180000000,
    }
    config_file.write_text(yaml.safe_dump(recipe))
    finetuning = load_config(config_file).finetuning
    for key, value in method_keys.items():
        assert getattr(finetuning, key) == (",".join(value) if isinstance(value, list) else value), key


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["use_galore=true"], "`use_galore` trains the model's own weights, not LoRA adapters"),
        (["use_adam_mini=true"], "`use_adam_mini` trains the model's own weights"),
        (["finetuning_type=full", "use_galore=true", "use_badam=true"], "`use_galore`, `use_badam` each replace the optimizer"),
        (["use_muon=true", "loraplus_lr_ratio=16"], "`use_muon` and `loraplus_lr_ratio` each build their own optimizer"),
        (["finetuning_type=full", "use_apollo=true", "optim=adafactor"], "`use_apollo` works with `optim` adamw_torch, not `adafactor`"),
        (["finetuning_type=full", "use_galore=true", "optim=sgd"], "`use_galore` works with `optim` adamw_torch or adamw_8bit"),
        (
            ["finetuning_type=full", "use_galore=true", "galore_layerwise=true", "gradient_accumulation_steps=4"],
            "set `gradient_accumulation_steps: 1` (now 4) or `galore_layerwise: false`",
        ),
        (["finetuning_type=full", "use_apollo=true", "apollo_layerwise=true", "nproc_per_node=2"], "runs in one process only"),
        (["finetuning_type=full", "use_badam=true", "badam_mode=ratio", "nproc_per_node=2"], "BAdam runs in one process"),
        (["finetuning_type=full", "use_badam=true", "badam_switch_interval=0"], "`badam_switch_interval: 0` is not a number of steps"),
    ],
)
def test_combinations_the_methods_cannot_run_are_named(overrides, message):
    with pytest.raises(ConfigError, match="Invalid combination") as error:
        load_config("examples/tiny_lora_sft.yaml", overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["use_galore=true", "galore_target=no_such_layer"], "`galore_target: no_such_layer` matches no trainable linear layer"),
        (["use_badam=true", "badam_start_block=4"], "`badam_start_block: 4` is past the last trainable layer: use 0 to 3"),
    ],
)
def test_settings_that_do_not_fit_the_model_fail_the_run_with_their_key(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    assert main(["train", *FIXED_BATCH, f"output_dir={run_dir}", *overrides]) != 0
    assert message in json.loads((run_dir / "status.json").read_text())["error"]
