"""The reference and reward model pickers of the Train tab's RLHF accordion.

They are the schema's own fields (``ref_model``, ``ref_model_adapters``, ``reward_model``,
``reward_model_adapters``) shown as dropdowns that still take a typed value (a path, a hub id,
a reward API's URL), offering what is on this machine, read afresh from ``saves/`` whenever the
stage or the model changes, the page loads or a picker gets the focus (so a run that finished a
minute ago is there):

- reference model: the top bar's models and the finished sft runs;
- reward model: the finished rm runs, labelled ``rm · <method> · <model>/<run>``; an rm LoRA run
  scores only on its own base model, so only those of the top bar's model are offered;
- adapters: the LoRA/OFT runs of the model they go on (``models.adapter_choices``).

Picking a run also sets the keys the engine reads with it (``workflows/train/ppo.py`` and
``alignment.py``): an rm run sets ``reward_model_type`` (lora for an adapter run, full otherwise)
and ``reward_model_adapters`` (the adapters it was trained on); an sft adapter run as reference
becomes its base model with the run (after its own adapters) as ``ref_model_adapters``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from llamaboard.models import WELL_KNOWN_MODELS, adapter_choices, check_model
from llamaboard.paths import Workspace
from workflows.config.schema import ADAPTER_TYPES
from workflows.run_dir import find_runs, has_final_model, model_folder_name, read_run_config, read_state

PICKER_KINDS = {"ref_model": "suggest", "ref_model_adapters": "names", "reward_model": "suggest", "reward_model_adapters": "names"}
"""How the schema's fields are shown here (the FormScope field kinds): single or comma-separated values, typing allowed."""


@dataclass(frozen=True)
class FinishedRun:
    """A training run that finished and saved its model or adapter: what a picker offers, and what picking it sets."""

    path: Path
    stage: str
    finetuning_type: str
    model: str  # the run's model_name_or_path (the base model of an adapter run)
    adapters: tuple[str, ...]  # the run's adapter_name_or_path: what it was trained on top of

    @property
    def is_adapter(self) -> bool:
        return self.finetuning_type in ADAPTER_TYPES

    @property
    def choice(self) -> tuple[str, str]:
        return f"{self.stage} · {self.finetuning_type} · {model_folder_name(self.model)}/{self.path.name}", str(self.path)


def finished_runs(saves_dir: Path, stage: str) -> list[FinishedRun]:
    """The finished runs of ``stage`` under ``saves_dir`` with a final model or adapter, newest first."""
    runs = []
    for run_dir in find_runs(saves_dir):
        config = read_run_config(run_dir)
        if config.get("stage") != stage or not has_final_model(run_dir):
            continue
        state = read_state(run_dir)
        if state.kind == "train" and state.state == "finished":
            adapters = tuple(part.strip() for part in str(config.get("adapter_name_or_path") or "").split(",") if part.strip())
            runs.append(
                FinishedRun(run_dir, stage, config.get("finetuning_type", "lora"), str(config.get("model_name_or_path") or ""), adapters)
            )
    return runs


def reward_model_runs(saves_dir: Path, model: str) -> list[FinishedRun]:
    """The rm runs ppo can score with on ``model``: full/freeze ones of any model, adapter ones of this model only."""
    return [run for run in finished_runs(saves_dir, "rm") if not run.is_adapter or model_folder_name(run.model) == model_folder_name(model)]


def ref_model_choices(saves_dir: Path, model: str) -> list:
    """The top bar's models (and the one it holds now) and the finished sft runs."""
    models = list(dict.fromkeys([*WELL_KNOWN_MODELS, *([model] if model else [])]))
    return [*models, *(run.choice for run in finished_runs(saves_dir, "sft"))]


def model_adapter_choices(saves_dir: Path, model: str) -> list[tuple[str, str]]:
    """Adapters that can go on ``model``: every LoRA/OFT run and checkpoint of it (reward models excluded)."""
    return [choice for finetuning_type in ADAPTER_TYPES for choice in adapter_choices(saves_dir, model, finetuning_type)]


def picked_reward_model(saves_dir: Path, picked: str, model: str) -> dict[str, Any]:
    """Config values that come with a picked rm run (empty for anything else, such as a typed URL)."""
    run = _run_at(reward_model_runs(saves_dir, model), picked)
    if run is None:
        return {}
    return {
        "reward_model_type": "lora" if run.is_adapter else "full",
        "reward_model_adapters": list(run.adapters) if run.is_adapter else [],
    }


def picked_ref_model(saves_dir: Path, picked: str) -> dict[str, Any]:
    """Config values that come with a picked sft run: an adapter run is its base model plus its adapters and itself."""
    run = _run_at(finished_runs(saves_dir, "sft"), picked)
    if run is None:
        return {}
    if run.is_adapter:
        return {"ref_model": run.model, "ref_model_adapters": [*run.adapters, str(run.path)]}
    return {"ref_model_adapters": []}  # a full/freeze run is the whole model: adapters picked for another one do not fit


def _run_at(runs: list[FinishedRun], picked: str) -> Optional[FinishedRun]:
    return next((run for run in runs if str(run.path) == picked), None)


def confine_picked_paths(values: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    """The values with the pickers' typed paths resolved inside the allowed roots, as the top bar's model and adapters are.

    A reference model may also be a hub id; a reward model of type api is a URL, not a path.
    """
    roots, confined = list(workspace.roots), dict(values)
    if values.get("ref_model"):
        confined["ref_model"] = check_model(values["ref_model"], roots)
    if values.get("reward_model") and values.get("reward_model_type") != "api":
        confined["reward_model"] = str(workspace.confine(values["reward_model"], "reward_model"))
    for key in ("ref_model_adapters", "reward_model_adapters"):
        if values.get(key):
            confined[key] = ",".join(str(workspace.confine(path, key)) for path in values[key].split(","))
    return confined


def wire_model_pickers(demo: gr.Blocks, fields: dict[str, gr.components.Component], workspace: Workspace, rlhf_stages: tuple) -> None:
    """Keep the pickers' choices current and fill in what comes with a picked run; ``fields`` are the tab's config fields."""
    stage, model, ref_model, reward_model = fields["stage"], fields["model_name_or_path"], fields["ref_model"], fields["reward_model"]
    ref_adapters, reward_adapters, reward_type = fields["ref_model_adapters"], fields["reward_model_adapters"], fields["reward_model_type"]
    saves_dir, pickers = workspace.saves_dir, (ref_model, ref_adapters, reward_model, reward_adapters)

    def refresh(chosen_stage: str, top_model: str, chosen_ref_model: str) -> dict:
        if chosen_stage not in rlhf_stages:  # the accordion is hidden: nothing to list
            return {picker: gr.skip() for picker in pickers}
        top_model = top_model or ""
        return {
            ref_model: gr.Dropdown(choices=ref_model_choices(saves_dir, top_model)),
            ref_adapters: gr.Dropdown(choices=model_adapter_choices(saves_dir, chosen_ref_model or top_model)),
            reward_model: gr.Dropdown(choices=[run.choice for run in reward_model_runs(saves_dir, top_model)]),
            reward_adapters: gr.Dropdown(choices=model_adapter_choices(saves_dir, top_model)),
        }

    def pick_reward_model(picked: str, top_model: str) -> dict:
        values = picked_reward_model(saves_dir, picked or "", top_model or "")
        return {reward_type: values.get("reward_model_type", gr.skip()), reward_adapters: values.get("reward_model_adapters", gr.skip())}

    def pick_ref_model(picked: str) -> dict:
        values = picked_ref_model(saves_dir, picked or "")
        return {ref_model: values.get("ref_model", gr.skip()), ref_adapters: values.get("ref_model_adapters", gr.skip())}

    triggers = [demo.load, stage.change, model.change, ref_model.change, *(picker.focus for picker in pickers)]
    gr.on(triggers, refresh, [stage, model, ref_model], list(pickers), trigger_mode="always_last", show_progress="hidden")
    reward_model.input(pick_reward_model, [reward_model, model], [reward_type, reward_adapters], show_progress="hidden")
    ref_model.input(pick_ref_model, ref_model, [ref_model, ref_adapters], show_progress="hidden")
