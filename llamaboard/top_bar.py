"""The top bar: language, model, method, adapters/checkpoints, quantization, template, devices.

These settings apply to every tab (train, evaluate, chat, export),
so they live outside the tabs and are config fields like any other.
"""

from dataclasses import dataclass
from typing import Any

import gradio as gr

from llamaboard.controls import NONE_CHOICE
from llamaboard.devices import CPU, detect_devices
from llamaboard.form import Form, FormScope
from llamaboard.locales import LANGUAGE_NAMES, languages
from llamaboard.models import WELL_KNOWN_MODELS, adapter_choices, template_for
from llamaboard.paths import Workspace
from workflows.config import BUILTIN_TINY_MODEL
from workflows.config.schema import ADAPTER_TYPES


@dataclass(frozen=True)
class TopBar:
    lang: gr.Dropdown
    model: gr.Dropdown
    finetuning_type: gr.Dropdown
    adapters: gr.Dropdown
    template: gr.Dropdown
    devices: gr.Dropdown
    scope: FormScope  # the bar's config fields; every tab's scope extends it


def template_names() -> list[str]:
    """Template names from the engine (pure python, no torch); empty while it has none."""
    try:
        from workflows.templates import list_templates
    except ImportError:
        return []
    return list(list_templates())


def source_values(values: dict[str, Any]) -> dict[str, Any]:
    """The top bar's model, method and adapters/checkpoints selection as the config keys of the model to load.

    The one rule for Chat, Evaluate and Export: LoRA and OFT selections are adapters on the base model, in
    order; for full and freeze runs the selected checkpoint is itself the model, with no adapters; no selection
    is the base model alone.
    """
    values = dict(values)
    selection = values.get("adapter_name_or_path")
    if values.get("finetuning_type", "lora") not in ADAPTER_TYPES and selection:
        values["model_name_or_path"] = selection.split(",")[-1]
        values["adapter_name_or_path"] = None
    return values


def build_top_bar(form: Form, workspace: Workspace) -> TopBar:
    scope = form.scope("top")
    with gr.Row(equal_height=True):
        lang = form.control(
            "ui_lang",
            gr.Dropdown,
            elem_id="lang",
            choices=[(LANGUAGE_NAMES.get(code, code), code) for code in languages()],
            value=form.lang,
            scale=1,
            min_width=120,
        )
        model = scope.field("model_name_or_path", kind="suggest", choices=list(WELL_KNOWN_MODELS), value=BUILTIN_TINY_MODEL, scale=3)
        finetuning_type = scope.field("finetuning_type", scale=1)
        adapters = scope.field("adapter_name_or_path", kind="names", allow_custom_value=False, scale=3)
    with gr.Row(equal_height=True):
        scope.field("quantization_bit", scale=1)
        template = scope.field("template", kind="choice", choices=[NONE_CHOICE, *template_names()], allow_custom_value=True, scale=1)
        scope.field("rope_scaling", scale=1)
        scope.field("flash_attn", scale=1)
        devices = form.control("devices", gr.Dropdown, multiselect=True, choices=[CPU], value=[CPU], scale=2)
    bar = TopBar(lang, model, finetuning_type, adapters, template, devices, scope)
    _wire(bar, workspace)
    return bar


def _wire(bar: TopBar, workspace: Workspace) -> None:
    def pick_template(model: str) -> str:
        return template_for(model) or NONE_CHOICE

    def list_adapters(model: str, finetuning_type: str, selected: list[str]) -> gr.Dropdown:
        choices = adapter_choices(workspace.saves_dir, model or "", finetuning_type)
        available = {path for _, path in choices}
        kept = [path for path in selected or [] if path in available]
        # the value only when something was dropped: an event fired by a restored form (persistence.py) may read a stale,
        # empty selection, and must not clear the adapters restored in the same update
        return gr.Dropdown(choices=choices, value=kept) if kept != list(selected or []) else gr.Dropdown(choices=choices)

    bar.model.input(pick_template, bar.model, bar.template)  # user choices only: a loaded config keeps its template
    for trigger in (bar.model.change, bar.finetuning_type.change, bar.adapters.focus):
        trigger(list_adapters, [bar.model, bar.finetuning_type, bar.adapters], bar.adapters, show_progress="hidden")


def device_choices() -> gr.Dropdown:
    """Called on page load: the devices found by the engine, the first one selected."""
    devices = list(detect_devices())
    return gr.Dropdown(choices=devices, value=devices[:1])
