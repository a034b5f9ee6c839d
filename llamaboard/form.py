"""The registry of every labelled component, and per-tab scopes that hold config fields.

A ``Form`` knows every labelled component of the app, and what else follows
the language (``on_language``), so that one event switches the language of
the whole page; a ``FormScope`` is one tab's (or the top bar's) set of config
controls, keyed by config field name. Two tabs may show the same key (Train
and Evaluate both have ``dataset``, ``cutoff_len`` ...): each gets its own
control, element id ``<scope>-field-<key>``, and each tab reads only its own
scope (plus the scope it extends, the top bar). Nothing here is per-browser
state: it describes components, not values.
"""

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
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


@dataclass(frozen=True)
class LanguageListener:
    """Something beyond labels that a language switch updates (a table's headers, a radio's choices ...).

    ``fn`` is a Gradio event handler of these ``inputs`` and ``outputs``: it gets their values (and the
    gr.Request when it has a parameter annotated so) and returns what such a handler returns.
    """

    fn: Callable
    inputs: tuple[gr.blocks.Block, ...]
    outputs: tuple[gr.blocks.Block, ...]
    takes_request: bool

    def updates(self, data: dict[gr.blocks.Block, Any], request: gr.Request) -> dict[gr.blocks.Block, Any]:
        """Output component -> what ``fn`` returns for it, from an event's ``{component: value}`` input."""
        result = self.fn(*(data[block] for block in self.inputs), **({"request": request} if self.takes_request else {}))
        if isinstance(result, dict) and all(isinstance(key, gr.blocks.Block) for key in result):
            return result
        if len(self.outputs) == 1:
            return {self.outputs[0]: result}
        return dict(zip(self.outputs, result))


class Form:
    """Every labelled component of the app, by element id, with the locale id its texts come from."""

    def __init__(self, lang: str = "en", starting_values: Optional[dict[str, Any]] = None) -> None:
        self.lang = lang  # the language of the first render; later switches are wire_language_switch's event
        self.starting_values = starter_values() if starting_values is None else starting_values
        self.labelled: dict[str, tuple[str, gr.blocks.Block]] = {}  # element id -> (locale id, component)
        self.language_listeners: list[LanguageListener] = []

    def scope(self, name: str, extends: Optional["FormScope"] = None) -> "FormScope":
        return FormScope(self, name, extends)

    def register(self, elem_id: str, locale_id: str, block: gr.blocks.Block) -> None:
        if elem_id in self.labelled:
            raise ValueError(f"two components share the element id {elem_id!r}: give one of them another scope")
        self.labelled[elem_id] = (locale_id, block)

    def locale_ids(self) -> set[str]:
        return {locale_id for locale_id, _ in self.labelled.values()}

    def control(self, component_id: str, component_class: type, **kwargs: Any) -> gr.components.Component:
        """Declare a UI-only input or output (not a config key), labelled from the locales by ``component_id``."""
        elem_id = kwargs.pop("elem_id", component_id)
        texts = self.texts(component_id)
        if not _accepts_info(component_class):
            texts.pop("info")
        component = component_class(**texts, elem_id=elem_id, **kwargs)
        self.register(elem_id, component_id, component)
        return component

    def button(self, component_id: str, **kwargs: Any) -> gr.Button:
        elem_id = kwargs.pop("elem_id", component_id)
        button = gr.Button(component_text(self.lang, component_id), elem_id=elem_id, **kwargs)
        self.register(elem_id, component_id, button)
        return button

    def accordion(self, component_id: str, **kwargs: Any) -> gr.Accordion:
        elem_id = kwargs.pop("elem_id", component_id)
        accordion = gr.Accordion(component_text(self.lang, component_id), elem_id=elem_id, **kwargs)
        self.register(elem_id, component_id, accordion)
        return accordion

    def tab(self, component_id: str) -> gr.Tab:
        tab = gr.Tab(component_text(self.lang, component_id), elem_id=component_id)
        self.register(component_id, component_id, tab)
        return tab

    def heading(self, component_id: str) -> gr.Markdown:
        heading = gr.Markdown(component_text(self.lang, component_id), elem_id=component_id)
        self.register(component_id, component_id, heading)
        return heading

    def texts(self, component_id: str) -> dict[str, Any]:
        return {"label": component_text(self.lang, component_id), "info": component_text(self.lang, component_id, "info") or None}

    def relabel(self, lang: str) -> dict[gr.blocks.Block, Any]:
        """Label (and help) updates for every registered component in ``lang``."""
        updates = {}
        for locale_id, block in self.labelled.values():
            label = component_text(lang, locale_id)
            if isinstance(block, (gr.Button, gr.Markdown)):
                updates[block] = gr.update(value=label)
            elif isinstance(block, (gr.Accordion, gr.Tab)):
                updates[block] = gr.update(label=label)
            elif _accepts_info(type(block)):
                updates[block] = gr.update(label=label, info=component_text(lang, locale_id, "info") or None)
            else:
                updates[block] = gr.update(label=label)
        return updates

    def on_language(self, fn: Callable, inputs: Sequence[gr.blocks.Block], outputs: Sequence[gr.blocks.Block]) -> None:
        """Run ``fn`` (an event handler of ``inputs`` and ``outputs``) in the language switch's one event.

        A handler that updates a labelled component returns a value or ``gr.update(...)`` for it (not a
        component): the switch sends it together with that component's new label.
        """
        takes_request = any(parameter.annotation is gr.Request for parameter in inspect.signature(fn).parameters.values())
        self.language_listeners.append(LanguageListener(fn, tuple(inputs), tuple(outputs), takes_request))

    def wire_language_switch(self, lang: gr.Dropdown) -> None:
        """One event for a language switch (call once, after every tab is built): every label, and every listener.

        One event instead of one per tab and listener: each event costs the browser a round trip and a
        refresh of the page's state, and a page reload that restores the language fires them all.
        """
        listeners = self.language_listeners
        inputs = {lang, *(block for listener in listeners for block in listener.inputs)}
        outputs = list(dict.fromkeys([*self.components, *(block for listener in listeners for block in listener.outputs)]))

        def switch_language(data: dict[gr.blocks.Block, Any], request: gr.Request) -> dict[gr.blocks.Block, Any]:
            updates = self.relabel(data[lang])
            for listener in listeners:
                for block, update in listener.updates(data, request).items():
                    updates[block] = _with_label(updates[block], update) if block in updates else update
            return updates

        lang.change(switch_language, inputs, outputs, show_progress="hidden")

    @property
    def components(self) -> list[gr.blocks.Block]:
        return [block for _, block in self.labelled.values()]


class FormScope:
    """The config controls of one tab (or the top bar), keyed by config field name.

    A scope that ``extends`` another (every tab extends the top bar's) reads
    and fills that one's fields too, so a tab's config includes the model.
    """

    def __init__(self, form: Form, name: str, extends: Optional["FormScope"] = None) -> None:
        self.form, self.name, self.extends = form, name, extends
        self.own_fields: dict[str, gr.components.Component] = {}
        self.specs: dict[str, FieldSpec] = dict(extends.specs) if extends else {}

    @property
    def fields(self) -> dict[str, gr.components.Component]:
        """Config key -> control, this scope's own over the extended scope's."""
        return {**(self.extends.fields if self.extends else {}), **self.own_fields}

    def field(self, key: str, kind: Optional[str] = None, **overrides: Any) -> gr.components.Component:
        """Declare the control of config key ``key`` (built from the schema) in the current layout."""
        spec = FieldSpec.of(key, kind)
        if key in self.form.starting_values:
            overrides.setdefault("value", spec.to_form(self.form.starting_values[key]))
        elem_id = f"{self.name}-field-{key}"
        component = field_component(spec, **self.form.texts(key), elem_id=elem_id, **overrides)
        self.form.register(elem_id, key, component)
        self.specs[key], self.own_fields[key] = spec, component
        return component

    def config_values(self, data: dict[gr.blocks.Block, Any]) -> dict[str, Any]:
        """Config key -> value from an event's ``{component: value}`` input (event inputs given as a set)."""
        return {key: self.specs[key].from_form(data[component]) for key, component in self.fields.items() if component in data}

    def fill(self, flat_config: dict[str, Any]) -> dict[gr.components.Component, Any]:
        """Control values showing ``flat_config`` (keys the scope lacks are ignored)."""
        fields = self.fields
        return {fields[key]: self.specs[key].to_form(value) for key, value in flat_config.items() if key in fields}


def _with_label(label_update: dict[str, Any], update: Any) -> dict[str, Any]:
    """A component's new label and a listener's update of it (a value or a gr.update) as one update."""
    if isinstance(update, gr.blocks.Block):
        raise TypeError(f"a language listener updates the labelled {type(update).__name__} with a component: return gr.update(...)")
    if isinstance(update, dict) and update.get("__type__") == "update":
        return {**label_update, **update}
    return {**label_update, "value": update}


@cache
def _accepts_info(component_class: type) -> bool:
    return "info" in inspect.signature(component_class.__init__).parameters
