"""The registry of every labelled component: config fields by key, UI-only parts by id.

Tabs declare their controls through a Form; the Form then collects values
keyed by config field names (what RunConfig takes), fills the controls from a
loaded config, and relabels everything when the language changes. Nothing in
it is per-browser state: it describes components, not values.
"""

import inspect
from pathlib import Path
from typing import Any, Optional

import gradio as gr
import yaml

from llamaboard.controls import FieldSpec, field_component
from llamaboard.locales import component_text

STARTER_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "tiny_identity_sft.yaml"
RUN_SPECIFIC_KEYS = ("output_dir", "overwrite_output_dir")  # the UI names each run itself


def starter_values(path: Path = STARTER_CONFIG) -> dict[str, Any]:
    """The form a newcomer opens: the end-to-end demo config, so Start trains something that visibly learns."""
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {key: value for key, value in values.items() if key not in RUN_SPECIFIC_KEYS}


class Form:
    def __init__(self, lang: str = "en", starting_values: Optional[dict[str, Any]] = None) -> None:
        self.lang = lang  # the language of the first render; later switches go through relabel()
        self.starting_values = starter_values() if starting_values is None else starting_values
        self.specs: dict[str, FieldSpec] = {}
        self.fields: dict[str, gr.components.Component] = {}
        self.labelled: dict[str, gr.blocks.Block] = {}

    def field(self, key: str, kind: Optional[str] = None, **overrides: Any) -> gr.components.Component:
        """Declare the control of config key ``key`` (built from the schema) in the current layout."""
        spec = FieldSpec.of(key, kind)
        if key in self.starting_values:
            overrides.setdefault("value", spec.to_form(self.starting_values[key]))
        component = field_component(spec, **self._texts(key), **overrides)
        self.specs[key], self.fields[key], self.labelled[key] = spec, component, component
        return component

    def control(self, component_id: str, component_class: type, **kwargs: Any) -> gr.components.Component:
        """Declare a UI-only input or output (not a config key), labelled from the locales."""
        texts = self._texts(component_id)
        if not _accepts_info(component_class):
            texts.pop("info")
        component = component_class(**texts, elem_id=component_id, **kwargs)
        self.labelled[component_id] = component
        return component

    def button(self, component_id: str, **kwargs: Any) -> gr.Button:
        button = gr.Button(component_text(self.lang, component_id), elem_id=component_id, **kwargs)
        self.labelled[component_id] = button
        return button

    def accordion(self, component_id: str, **kwargs: Any) -> gr.Accordion:
        accordion = gr.Accordion(component_text(self.lang, component_id), elem_id=component_id, **kwargs)
        self.labelled[component_id] = accordion
        return accordion

    def tab(self, component_id: str) -> gr.Tab:
        tab = gr.Tab(component_text(self.lang, component_id), elem_id=component_id)
        self.labelled[component_id] = tab
        return tab

    def heading(self, component_id: str) -> gr.Markdown:
        heading = gr.Markdown(component_text(self.lang, component_id), elem_id=component_id)
        self.labelled[component_id] = heading
        return heading

    def _texts(self, component_id: str) -> dict[str, Any]:
        return {"label": component_text(self.lang, component_id), "info": component_text(self.lang, component_id, "info") or None}

    def config_values(self, data: dict[gr.blocks.Block, Any]) -> dict[str, Any]:
        """Config key -> value from an event's ``{component: value}`` input (event inputs given as a set)."""
        return {key: self.specs[key].from_form(data[component]) for key, component in self.fields.items() if component in data}

    def fill(self, flat_config: dict[str, Any]) -> dict[gr.components.Component, Any]:
        """Control values showing ``flat_config`` (keys the form lacks are ignored)."""
        return {self.fields[key]: self.specs[key].to_form(value) for key, value in flat_config.items() if key in self.fields}

    def relabel(self, lang: str) -> dict[gr.blocks.Block, Any]:
        """Label (and help) updates for every registered component in ``lang``."""
        updates = {}
        for component_id, block in self.labelled.items():
            label = component_text(lang, component_id)
            if isinstance(block, (gr.Button, gr.Markdown)):
                updates[block] = gr.update(value=label)
            elif isinstance(block, (gr.Accordion, gr.Tab)):
                updates[block] = gr.update(label=label)
            elif _accepts_info(type(block)):
                updates[block] = gr.update(label=label, info=component_text(lang, component_id, "info") or None)
            else:
                updates[block] = gr.update(label=label)
        return updates


def _accepts_info(component_class: type) -> bool:
    return "info" in inspect.signature(component_class.__init__).parameters
