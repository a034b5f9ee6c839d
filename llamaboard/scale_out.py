"""The Train tab's scale-out controls: the DeepSpeed / FSDP choice and the line saying how many processes a run starts.

The choice offers the presets the engine ships (``workflows.train.distributed.ENGINE_PRESETS``)
and stands for the config keys a preset sets (``deepspeed``, or ``fsdp`` and
``fsdp_config``); any other DeepSpeed or FSDP setting goes in the extra
arguments. Choosing N GPUs in the device picker sets ``nproc_per_node`` to N:
the job then runs under torchrun, one process per GPU (never one process over
several GPUs).
"""

from dataclasses import dataclass
from typing import Any

import gradio as gr

from llamaboard.controls import NONE_CHOICE
from llamaboard.devices import gpu_count
from llamaboard.form import Form
from llamaboard.locales import message
from llamaboard.notices import notice
from workflows.train.distributed import ENGINE_PRESETS, preset_in


@dataclass(frozen=True)
class ScaleOut:
    engine: gr.Dropdown  # NONE_CHOICE or a key of ENGINE_PRESETS
    processes: gr.HTML


def build_scale_out(form: Form) -> ScaleOut:
    """The choice and the process line, in one row of the current layout."""
    with gr.Row(equal_height=True):
        choices = [(NONE_CHOICE, NONE_CHOICE)] + [(preset.label, key) for key, preset in ENGINE_PRESETS.items()]
        # the element id of a config field: the choice is kept per browser like the fields (persistence.py)
        engine = form.control("deepspeed", gr.Dropdown, elem_id="train-field-deepspeed", choices=choices, value=NONE_CHOICE, scale=1)
        processes = gr.HTML(elem_id="train_processes")
    return ScaleOut(engine, processes)


def engine_settings(choice: str) -> dict[str, Any]:
    """The config keys the chosen preset sets (none for NONE_CHOICE)."""
    preset = ENGINE_PRESETS.get(choice)
    return dict(preset.settings) if preset else {}


def loaded_engine(values: dict[str, Any]) -> tuple[str, set[str]]:
    """The preset a loaded config uses and the keys it stands for; (NONE_CHOICE, empty) when it uses none of them."""
    key = preset_in(values)
    return (key, set(ENGINE_PRESETS[key].settings)) if key else (NONE_CHOICE, set())


def processes_text(lang: str, nproc: Any, choice: str) -> str:
    """The line under the choice: one process, or N processes (DDP or the preset) under torchrun."""
    count = int(nproc) if isinstance(nproc, (int, float)) and nproc >= 1 else 1
    engine = ENGINE_PRESETS[choice].label if choice in ENGINE_PRESETS else "DDP"
    if count > 1:
        text = message(lang, "train_processes", count=count, engine=engine)
    else:
        text = message(lang, "train_one_engine_process", engine=engine) if choice in ENGINE_PRESETS else message(lang, "train_one_process")
    return notice(text, "note")


def wire_scale_out(
    demo: gr.Blocks, form: Form, scale_out: ScaleOut, devices: gr.Dropdown, nproc: gr.components.Component, lang: gr.Dropdown
) -> None:
    """GPUs chosen -> nproc_per_node (CPU leaves it as set); the process line follows nproc, the choice and the language."""

    def processes_for(selected: list[str]) -> Any:
        chosen = gpu_count(selected)
        return chosen if chosen else gr.skip()

    devices.change(processes_for, devices, nproc, show_progress="hidden")
    text_inputs = [lang, nproc, scale_out.engine]
    gr.on([demo.load, nproc.change, scale_out.engine.change], processes_text, text_inputs, scale_out.processes, show_progress="hidden")
    form.on_language(processes_text, text_inputs, [scale_out.processes])
