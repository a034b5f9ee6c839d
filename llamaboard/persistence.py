"""The form remembered per browser: a page refresh (or a new tab, or an app restart) shows what this browser last had.

What is stored: one ``gr.BrowserState`` (localStorage key ``STORAGE_KEY``) holding
``{"version": 1, "values": {element id: value}}`` for every config field of every
tab and of the top bar (element ids ``<scope>-field-<key>``: model, finetuning
type, adapter selection, template, the Train / Evaluate / Export forms), the
language, the run names of the job tabs, the Train tab's extra arguments and
config path, the Evaluate tab's mode and the Chat tab's generation settings.
Values are stored as the controls hold them (what the browser sent), so nothing
here knows the config schema.

Why: without it a refresh resets the form to the demo defaults while the run
panel reattaches to the run of the previous form, so the two disagree; the
language and the chosen adapters were lost too. Which job the monitor watches
is not stored: the run panel finds it again from saves/, and shows that run's
own run.yaml (named in the panel heading and the config box).

Not stored: the devices (detected on each page load, they belong to the
machine), chat conversations, previews and results (they are read from files).

When: every change of a stored control saves the whole set (the raw values,
never validated, so saving cannot raise); on page load the values are restored
in two steps, the run names last (their load-time defaults must not win).
A stored value that no longer fits is dropped silently and the control keeps
its default: a choice that is no longer offered, an adapter of another model
or one deleted from saves/, a dataset gone from dataset_info.json, a value of
the wrong type. Dropdowns whose choices depend on other controls (adapters on
the model and finetuning type, datasets on the dataset folder and stage) get
those choices for the restored values in the same update, so their value is
valid when it arrives and no Gradio error toast appears. The restored language
fires the language switch's own change event, which relabels the page.

The browser encrypts the value with ``SECRET`` (Gradio's BrowserState always
does); it is a fixed string so that a restart of the app can still read what
it stored. The values are not secret: anyone at this browser sees the form anyway.
"""

import logging
from collections.abc import Callable
from typing import Any, Optional

import gradio as gr

from llamaboard.datasets import dataset_names
from llamaboard.form import Form
from llamaboard.models import adapter_choices
from llamaboard.paths import Workspace
from llamaboard.top_bar import TopBar

STORAGE_KEY = "llamaboard-form"
SECRET = "llamaboard-form-v1"
VERSION = 1
FIELD_MARK = "-field-"
RUN_NAME_IDS = ("run_name", "eval-run_name", "export-run_name")
OTHER_IDS = ("lang", "extra_args", "config_path", "eval-mode", "system_prompt", "temperature", "top_p", "max_new_tokens")

log = logging.getLogger(__name__)
Values = dict[str, Any]
ChoiceSource = Callable[[Values], list]  # restored values -> the choices a dependent dropdown offers for them


def persist_form(demo: gr.Blocks, form: Form, bar: TopBar, workspace: Workspace) -> gr.BrowserState:
    """Save the form in the browser on every change and restore it on page load (call once, after every tab is built)."""
    stored = gr.BrowserState({"version": VERSION, "values": {}}, storage_key=STORAGE_KEY, secret=SECRET)
    pending = gr.State(None)  # what was read at load, for the second step (the browser copy may be rewritten meanwhile)
    controls = persisted_controls(form)
    names = {elem_id: controls.pop(elem_id) for elem_id in RUN_NAME_IDS if elem_id in controls}
    every = {**controls, **names}
    ids, components = list(every), list(every.values())
    sources = _choice_sources(workspace, controls)

    def save(*values: Any) -> dict:
        return {"version": VERSION, "values": dict(zip(ids, values))}

    def restore(saved: Any) -> dict:
        values = _stored_values(saved)
        try:
            return {pending: values, **restore_updates(controls, values, sources)}
        except Exception:  # noqa: BLE001 - a stored form must never break the page: keep the defaults
            log.warning("could not restore the stored form", exc_info=True)
            return {pending: values}

    def restore_names(values: Optional[Values]) -> dict:
        return restore_updates(names, values or {}, {})

    gr.on(
        [component.change for component in components],
        save,
        components,
        stored,
        preprocess=False,  # raw values: a value Gradio would reject (a choice not offered) must not fail the save
        trigger_mode="always_last",
        show_progress="hidden",
    )
    demo.load(restore, stored, [pending, *controls.values()], show_progress="hidden").then(
        restore_names, pending, list(names.values()), show_progress="hidden"
    )
    return stored


def persisted_controls(form: Form) -> dict[str, gr.components.Component]:
    """Element id -> control for everything stored: config fields of every scope, plus OTHER_IDS and RUN_NAME_IDS."""
    wanted = set(OTHER_IDS) | set(RUN_NAME_IDS)
    return {
        elem_id: block
        for elem_id, (_, block) in form.labelled.items()
        if (FIELD_MARK in elem_id or elem_id in wanted) and isinstance(block, gr.components.Component)
    }


def restore_updates(controls: dict[str, gr.components.Component], values: Values, sources: dict[str, ChoiceSource]) -> dict:
    """Updates for the controls whose stored value still fits; the others are skipped (they keep their defaults)."""
    updates = {component: gr.skip() for component in controls.values()}  # every output named: an empty dict is one value
    for elem_id, component in controls.items():
        if elem_id not in values:
            continue
        if elem_id in sources:
            choices = _safe_choices(sources[elem_id], values)
            fitting = _fitting_choice_value(component, values[elem_id], [_choice_key(choice) for choice in choices], custom=False)
            if fitting is not _MISSING:
                updates[component] = gr.update(choices=choices, value=fitting)
            continue
        fitting = restorable(component, values[elem_id])
        if fitting is not _MISSING:
            updates[component] = fitting
    return updates


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()  # "drop this value": None is a value a control may hold


def restorable(component: gr.components.Component, value: Any) -> Any:
    """``value`` as ``component`` can show it without Gradio rejecting it, or _MISSING."""
    if isinstance(component, gr.Dropdown):
        offered = [_choice_key(choice) for choice in component.choices or []]
        return _fitting_choice_value(component, value, offered, custom=bool(component.allow_custom_value))
    if isinstance(component, gr.Radio):
        return value if value in [_choice_key(choice) for choice in component.choices or []] else _MISSING
    if isinstance(component, gr.Checkbox):
        return value if isinstance(value, bool) else _MISSING
    if isinstance(component, (gr.Number, gr.Slider)):
        if value is None and isinstance(component, gr.Number):
            return None
        if not _is_number(value):
            return _MISSING
        low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
        return _MISSING if (low is not None and value < low) or (high is not None and value > high) else value
    if isinstance(component, (gr.Textbox, gr.Code)):
        return value if isinstance(value, str) else _MISSING
    return _MISSING


def _fitting_choice_value(component: gr.Dropdown, value: Any, offered: list, custom: bool) -> Any:
    """A single value if offered (or custom values are allowed); for a multiselect, the listed items that fit."""

    def fits(item: Any) -> bool:
        return item in offered or (custom and isinstance(item, str))

    if component.multiselect:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            return _MISSING
        return [item for item in value if fits(item)]
    return value if (isinstance(value, (str, int, float)) and fits(value)) else _MISSING


def _choice_sources(workspace: Workspace, controls: dict[str, gr.components.Component]) -> dict[str, ChoiceSource]:
    """The dropdowns whose choices are computed from other controls, with how to compute them for restored values."""

    def value_of(values: Values, elem_id: str) -> Any:
        if elem_id in values and restorable(controls[elem_id], values[elem_id]) is not _MISSING:
            return values[elem_id]
        return controls[elem_id].value if elem_id in controls else None

    def adapters(values: Values) -> list:
        model = value_of(values, "top-field-model_name_or_path") or ""
        return adapter_choices(workspace.saves_dir, model, value_of(values, "top-field-finetuning_type"))

    def datasets(scope: str, stage: Optional[str]) -> ChoiceSource:
        def names(values: Values) -> list:
            folder = workspace.confine(value_of(values, f"{scope}-field-dataset_dir") or "", "dataset_dir")
            return dataset_names(folder, (value_of(values, f"{scope}-field-stage") if stage is None else stage) or "sft")

        return names

    sources = {
        "top-field-adapter_name_or_path": adapters,
        "train-field-dataset": datasets("train", None),
        "train-field-eval_dataset": datasets("train", None),
        "eval-field-dataset": datasets("eval", "sft"),
    }
    return {elem_id: source for elem_id, source in sources.items() if elem_id in controls}


def _safe_choices(source: ChoiceSource, values: Values) -> list:
    try:
        return list(source(values))
    except Exception:  # noqa: BLE001 - a folder gone or unreadable: nothing is offered, so nothing stored is kept
        return []


def _stored_values(saved: Any) -> Values:
    if isinstance(saved, dict) and saved.get("version") == VERSION and isinstance(saved.get("values"), dict):
        return saved["values"]
    return {}


def _choice_key(choice: Any) -> Any:
    """The value of a (label, value) choice, or the choice itself."""
    return choice[1] if isinstance(choice, (tuple, list)) and len(choice) == 2 else choice


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
