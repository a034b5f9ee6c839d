"""PiSSA runs: every adapter a user can pick (each checkpoint-N and the final one) is the model that was trained.

PiSSA trains on residual weights that are never saved, so each saved adapter must be
plain LoRA of the original weights. The model as trained is recorded inside the training
run (logits of the live model at each save), independently of what was written to disk.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

import workflows.train.causal_lm as causal_lm
from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ModelError
from workflows.models.finetuning import prepare_for_training
from workflows.models.loader import adapter_paths, load_model, load_tokenizer, merge_adapters
from workflows.models.pissa import load_trained_form

RANK = 8
ARGS = [
    "train",
    "examples/tiny_lora_sft.yaml",
    "dataset=identity",
    "max_steps=4",
    "save_steps=2",
    "logging_steps=1",
    "per_device_train_batch_size=2",
    "learning_rate=1e-3",  # enough for training to move the logits well beyond the tolerance
    "pissa_init=true",
    "pissa_iter=2",  # a randomised SVD, which peft cannot redo identically when it loads an unconverted adapter
    f"lora_rank={RANK}",
    "lora_target=q_proj,v_proj",
    "lora_dropout=0.1",  # random draws in every step: resuming must restore them, saving must not consume them
]
PROMPT = torch.tensor([[5, 17, 42, 99, 7, 300, 12, 8]])
TOLERANCE = 1e-4


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")


def logits_of(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(PROMPT).logits


class RecordTrainedLogits(TrainerCallback):
    """The logits of the model being trained (residual weights plus PiSSA adapter) at each checkpoint save."""

    def __init__(self):
        self.at_step: dict[int, torch.Tensor] = {}

    def on_save(self, args, state, control, model=None, **kwargs):
        self.at_step[state.global_step] = logits_of(model)
        model.train()


def base_model():
    config = load_config(None, {})
    return load_model(config.model, load_tokenizer(config.model))


def train(output_dir: Path, *overrides: str) -> None:
    assert main([*ARGS, f"output_dir={output_dir}", *overrides]) == 0


def losses(run: Path) -> dict[int, float]:
    rows = map(json.loads, (run / "trainer_log.jsonl").read_text().splitlines())
    return {row["current_steps"]: row["loss"] for row in rows if "loss" in row}


@pytest.fixture(scope="module")
def pissa_run(tmp_path_factory) -> tuple[Path, dict[int, torch.Tensor]]:
    """A PiSSA run with checkpoints at steps 2 and 4, and the logits of the model it trained at each."""
    recorder = RecordTrainedLogits()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(Path(__file__).resolve().parents[1])
        patch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")
        patch.setattr(causal_lm, "extra_callbacks", lambda config: [recorder])
        run = tmp_path_factory.mktemp("pissa") / "run"
        train(run)
    return run, recorder.at_step


@pytest.mark.parametrize("adapter, step", [("checkpoint-2", 2), ("checkpoint-4", 4), ("", 4)])
def test_every_adapter_of_a_pissa_run_loads_on_the_original_model_as_the_model_trained(pissa_run, adapter, step):
    from peft import PeftModel

    run, trained = pissa_run
    folder = run / adapter
    assert not torch.allclose(trained[step], logits_of(base_model()), atol=100 * TOLERANCE), "training changed too little to tell"
    merged = logits_of(merge_adapters(base_model(), adapter_paths(load_config(None, {"adapter_name_or_path": str(folder)}).model)))
    torch.testing.assert_close(merged, trained[step], rtol=0, atol=TOLERANCE)  # chat, evaluate and export merge it so
    assert torch.equal(merged.argmax(-1), trained[step].argmax(-1))
    unmerged = logits_of(PeftModel.from_pretrained(base_model(), str(folder)))  # as export checks it, and vLLM applies it
    torch.testing.assert_close(unmerged, trained[step], rtol=0, atol=TOLERANCE)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["init_lora_weights"] is True and config["r"] == 2 * RANK  # plain LoRA: peft does nothing to the base weights


def test_a_pissa_run_resumed_from_a_checkpoint_trains_on_exactly_as_the_uninterrupted_run(pissa_run, tmp_path):
    run, _ = pissa_run
    resumed = tmp_path / "resumed"
    shutil.copytree(run / "checkpoint-2", resumed / "checkpoint-2")  # without pissa_init/: the resumed run writes its own
    train(resumed, f"resume_from_checkpoint={resumed / 'checkpoint-2'}")

    assert losses(resumed) == pytest.approx({step: loss for step, loss in losses(run).items() if step > 2}, abs=1e-6)
    uninterrupted, again = load_file(run / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert uninterrupted.keys() == again.keys()
    for name, weight in uninterrupted.items():
        torch.testing.assert_close(again[name], weight, rtol=0, atol=1e-6, msg=name)


def test_a_continued_adapter_with_pissa_init_is_saved_as_trained(pissa_run, tmp_path, monkeypatch):
    """PiSSA initialises new adapters only: a continued one is saved as it is, not converted against its own start
    (which took the continued adapter's earlier training out of the saved one)."""
    run, _ = pissa_run
    recorder = RecordTrainedLogits()
    monkeypatch.setattr(causal_lm, "extra_callbacks", lambda config: [recorder])
    continued = tmp_path / "continued"
    train(continued, "max_steps=2", f"adapter_name_or_path={run}")
    assert not (continued / "pissa_init").exists()
    torch.testing.assert_close(logits_of(merge_adapters(base_model(), [str(continued)])), recorder.at_step[2], rtol=0, atol=TOLERANCE)


def test_saving_pissa_checkpoints_leaves_the_training_unchanged(pissa_run, tmp_path):
    """Each save converts against the initial adapter, which peft loads beside the trained one (new layers draw random
    numbers): the dropout of later steps must not depend on save_steps."""
    run, _ = pissa_run
    train(tmp_path / "unsaved", "save_steps=100")
    assert losses(tmp_path / "unsaved") == losses(run)


def write_pissa_form(converted: Path, folder: Path) -> None:
    """The checkpoint as older versions saved it: the trained (A, B) alone, with the PiSSA config of the run."""
    shutil.copytree(converted, folder)
    config = json.loads((converted / "adapter_config.json").read_text())
    config.update(r=RANK, lora_alpha=config["lora_alpha"] // 2, init_lora_weights="pissa_niter_2")
    (folder / "adapter_config.json").write_text(json.dumps(config))
    weights = load_file(converted / "adapter_model.safetensors")
    trained = {name: w[:RANK] if "lora_A" in name else w[:, :RANK] if "lora_B" in name else w for name, w in weights.items()}
    save_file({name: w.contiguous() for name, w in trained.items()}, folder / "adapter_model.safetensors")


def test_a_checkpoint_saved_in_pissa_form_is_refused_for_chat_but_still_resumes(pissa_run, tmp_path):
    run, _ = pissa_run
    resumed = tmp_path / "resumed"
    write_pissa_form(run / "checkpoint-2", resumed / "checkpoint-2")
    with pytest.raises(ModelError, match=r"checkpoint-2` \(adapter_name_or_path\) was saved in PiSSA form"):
        adapter_paths(load_config(None, {"adapter_name_or_path": str(resumed / "checkpoint-2")}).model)

    train(resumed, f"resume_from_checkpoint={resumed / 'checkpoint-2'}")
    assert losses(resumed) == pytest.approx({step: loss for step, loss in losses(run).items() if step > 2}, abs=1e-6)
    assert json.loads((resumed / "checkpoint-4" / "adapter_config.json").read_text())["init_lora_weights"] is True


@pytest.mark.parametrize("keys, refused", [({"lora_rank": 4}, "of rank 8, but this run's lora_rank is 4"), ({}, "another lora_target")])
def test_a_pissa_checkpoint_refuses_to_resume_a_run_with_other_lora_settings(pissa_run, keys, refused):
    config = load_config(None, {"pissa_init": True, "pissa_iter": 2, "lora_target": "q_proj", **keys})
    model = prepare_for_training(base_model(), config.model, config.finetuning, gradient_checkpointing=False)
    with pytest.raises(ModelError, match=refused):
        load_trained_form(model, pissa_run[0] / "checkpoint-2")


def test_load_best_model_at_end_reads_the_best_pissa_checkpoint_back(tmp_path):
    run = tmp_path / "best"
    train(run, "val_size=4", "eval_strategy=steps", "eval_steps=2", "load_best_model_at_end=true")
    best = Path(json.loads((run / "trainer_state.json").read_text())["best_model_checkpoint"])
    final, at_best = load_file(run / "adapter_model.safetensors"), load_file(best / "adapter_model.safetensors")
    for name, weight in at_best.items():
        torch.testing.assert_close(final[name], weight, rtol=0, atol=1e-6, msg=name)
