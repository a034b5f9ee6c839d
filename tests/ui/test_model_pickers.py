"""The RLHF accordion's reference and reward model pickers, without a browser: what they offer and what a pick sets."""

import json

import pytest
import yaml
from run_dirs import write_run

from llamaboard.model_pickers import (
    confine_picked_paths,
    model_adapter_choices,
    picked_ref_model,
    picked_reward_model,
    ref_model_choices,
    reward_model_runs,
)
from llamaboard.models import adapter_choices
from llamaboard.paths import PathNotAllowedError, Workspace
from llamaboard.run_builder import prepare_run
from workflows.config import load_config

TINY = "llamaboard-tiny"


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})


def trained_run(workspace: Workspace, name: str, stage: str, finetuning_type: str = "lora", state: str = "finished", **config):
    """A run directory as a finished job leaves it: run.yaml, status.json and its adapter (a SEQ_CLS one for rm) or model."""
    run_dir = write_run(workspace.saves_dir, name, state, steps=2, model=config.pop("model", TINY))
    values = {**yaml.safe_load((run_dir / "run.yaml").read_text()), "stage": stage, "finetuning_type": finetuning_type, **config}
    (run_dir / "run.yaml").write_text(yaml.safe_dump(values))
    if finetuning_type == "lora":
        (run_dir / "adapter_config.json").write_text(json.dumps({"task_type": "SEQ_CLS" if stage == "rm" else "CAUSAL_LM"}))
        (run_dir / "adapter_model.safetensors").write_text("")
    else:
        (run_dir / "model.safetensors").write_text("")
    return run_dir


def test_the_reward_picker_offers_finished_rm_runs_that_score_on_this_model(workspace):
    lora_rm = trained_run(workspace, "rm_lora", "rm")
    full_rm = trained_run(workspace, "rm_full", "rm", "full", model="other-model")
    trained_run(workspace, "rm_other_base", "rm", model="other-model")  # its adapter scores only on other-model
    trained_run(workspace, "rm_running", "rm", state="aborted")
    trained_run(workspace, "sft_lora", "sft")
    offered = dict(run.choice for run in reward_model_runs(workspace.saves_dir, TINY))
    assert offered == {"rm · lora · llamaboard-tiny/rm_lora": str(lora_rm), "rm · full · other-model/rm_full": str(full_rm)}


def test_picking_an_rm_run_sets_the_reward_model_type_and_the_adapters_it_was_trained_on(workspace):
    sft = trained_run(workspace, "sft_lora", "sft")
    lora_rm = trained_run(workspace, "rm_lora", "rm", adapter_name_or_path=str(sft))
    full_rm = trained_run(workspace, "rm_full", "rm", "full")
    saves = workspace.saves_dir
    assert picked_reward_model(saves, str(lora_rm), TINY) == {"reward_model_type": "lora", "reward_model_adapters": [str(sft)]}
    assert picked_reward_model(saves, str(full_rm), TINY) == {"reward_model_type": "full", "reward_model_adapters": []}
    assert picked_reward_model(saves, "http://127.0.0.1:8000/score", TINY) == {}, "a typed URL sets nothing else"


def test_a_picked_rm_run_previews_a_ppo_config_the_cli_loads(workspace):
    rm_run = trained_run(workspace, "rm_lora", "rm")
    form = {
        "model_name_or_path": TINY,
        "stage": "ppo",
        "dataset": "instruct_demo",
        "reward_model": str(rm_run),
        "reward_model_type": "full",
    }
    form.update(picked_reward_model(workspace.saves_dir, form["reward_model"], TINY))
    form["reward_model_adapters"] = ",".join(form["reward_model_adapters"]) or None  # as the multi-select hands it on
    prepared = prepare_run(confine_picked_paths(form, workspace), "ppo_run", [], workspace)
    (workspace.workdir / "run.yaml").write_text(prepared.yaml_text)
    config = load_config(workspace.workdir / "run.yaml")  # what `python -m workflows train run.yaml` validates first
    assert (config.rlhf.reward_model, config.rlhf.reward_model_type) == (str(rm_run), "lora")


def test_a_reward_model_is_offered_neither_as_adapter_nor_for_chat(workspace):
    trained_run(workspace, "rm_lora", "rm")
    trained_run(workspace, "rm_full", "rm", "full")
    sft = trained_run(workspace, "sft_lora", "sft")
    saves = workspace.saves_dir
    assert adapter_choices(saves, TINY, "lora") == [("sft_lora", str(sft))]  # the top bar's list, which the Chat tab loads
    assert adapter_choices(saves, TINY, "full") == []
    assert model_adapter_choices(saves, TINY) == [("sft_lora", str(sft))]


def test_the_reference_picker_offers_models_and_sft_runs_and_an_adapter_run_becomes_base_plus_adapter(workspace):
    base_adapter = trained_run(workspace, "sft_first", "sft")
    sft_lora = trained_run(workspace, "sft_lora", "sft", adapter_name_or_path=str(base_adapter))
    sft_full = trained_run(workspace, "sft_full", "sft", "full")
    trained_run(workspace, "dpo_lora", "dpo")
    choices = ref_model_choices(workspace.saves_dir, "models/my-local-model")
    assert TINY in choices and "Qwen/Qwen2.5-0.5B-Instruct" in choices and "models/my-local-model" in choices
    runs = [choice for choice in choices if isinstance(choice, tuple)]
    assert {label for label, _ in runs} == {
        "sft · lora · llamaboard-tiny/sft_first",
        "sft · lora · llamaboard-tiny/sft_lora",
        "sft · full · llamaboard-tiny/sft_full",
    }
    assert picked_ref_model(workspace.saves_dir, str(sft_lora)) == {
        "ref_model": TINY,
        "ref_model_adapters": [str(base_adapter), str(sft_lora)],
    }
    assert picked_ref_model(workspace.saves_dir, str(sft_full)) == {"ref_model_adapters": []}
    assert picked_ref_model(workspace.saves_dir, TINY) == {}


def test_typed_picker_paths_are_confined_like_the_model_path(workspace):
    rm_run = trained_run(workspace, "rm_lora", "rm")
    relative = str(rm_run.relative_to(workspace.workdir))
    confined = confine_picked_paths({"reward_model": relative, "ref_model": TINY, "ref_model_adapters": relative}, workspace)
    assert confined == {"reward_model": str(rm_run), "ref_model": TINY, "ref_model_adapters": str(rm_run)}
    api = {"reward_model": "http://127.0.0.1:8000/score", "reward_model_type": "api"}
    assert confine_picked_paths(api, workspace) == api
    for key in ("reward_model", "ref_model", "reward_model_adapters"):
        with pytest.raises(PathNotAllowedError, match="outside the allowed folders"):
            confine_picked_paths({key: "/etc"}, workspace)
