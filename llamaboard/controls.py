"""Gradio controls generated from the config schema, and the value conversions both ways.

A control's type, choices, range and default come from the pydantic field in
``workflows.config.schema``; its label and help come from the locale files,
keyed by the field name. The UI never keeps a second list of what a key means.
"""

import math
import typing
from dataclasses import dataclass
from typing import Any, Optional

import annotated_types
import gradio as gr
import yaml

from workflows.config.loader import KEY_TO_GROUP, split_optional
from workflows.config.schema import GROUPS

NONE_CHOICE = "none"  # dropdowns cannot hold None; this value stands for "unset"


@dataclass(frozen=True)
class FieldSpec:
    """What the UI needs to know about one config key: kind, choices, bounds, default."""

    key: str
    kind: str  # bool, int, float, optional_number, text, choice, names (comma-separated, multi-select), suggest, yaml
    default: Any
    optional: bool = False
    choices: tuple = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None

    @classmethod
    def of(cls, key: str, kind: Optional[str] = None) -> "FieldSpec":
        info = GROUPS[KEY_TO_GROUP[key]].model_fields[key]
        annotation, optional = split_optional(info.annotation)
        if annotation is Any:  # a pass-through TrainingArguments field: any YAML value, empty for "not given"
            return cls(key, kind or "yaml", info.default, True)
        choices: tuple = ()
        if typing.get_origin(annotation) is typing.Literal:
            choices, inferred = typing.get_args(annotation), "choice"
        elif annotation is bool and optional:
            choices, inferred = (True, False), "choice"
        else:
            inferred = {bool: "bool", int: "int", float: "float"}.get(annotation, "text")
            if inferred in ("int", "float") and optional:
                inferred = "optional_number"  # a number box cannot be empty, and empty means "default" here
        minimum = next((bound.ge for bound in info.metadata if isinstance(bound, annotated_types.Ge)), None)
        maximum = next((bound.le for bound in info.metadata if isinstance(bound, annotated_types.Le)), None)
        return cls(key, kind or inferred, info.default, optional, choices, minimum, maximum)

    def to_form(self, value: Any) -> Any:
        """A config value as the control holds it."""
        if self.kind == "choice":
            return NONE_CHOICE if value is None else _choice_value(value)
        if self.kind == "names":
            return [name.strip() for name in str(value).split(",") if name.strip()] if value else []
        if self.kind in ("text", "suggest", "optional_number", "yaml"):
            return "" if value is None else (",".join(value) if isinstance(value, list) else str(value))
        return value

    def from_form(self, value: Any) -> Any:
        """The control's value as the config schema expects it (validation happens in RunConfig)."""
        if self.kind == "choice":
            if value in (None, NONE_CHOICE):
                return None
            return next((choice for choice in self.choices if _choice_value(choice) == value), value)
        if self.kind == "names":
            names = [value] if isinstance(value, str) else list(value or [])
            return ",".join(names) if names else None
        if self.kind in ("text", "suggest"):
            text = (value or "").strip()
            return None if not text and self.optional else text
        if self.kind in ("optional_number", "yaml"):
            text = (value or "").strip()
            return yaml.safe_load(text) if text else None
        if self.kind == "int" and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def field_component(spec: FieldSpec, **overrides: Any) -> gr.components.Component:
    """The control for ``spec``; ``overrides`` carry label, info and layout options."""
    common = {"value": spec.to_form(spec.default), **overrides}
    if spec.kind == "bool":
        return gr.Checkbox(**common)
    if spec.kind == "choice":
        choices = ([NONE_CHOICE] if spec.optional else []) + [_choice_value(choice) for choice in spec.choices]
        return gr.Dropdown(**{"choices": choices, **common})
    if spec.kind == "names":
        return gr.Dropdown(**{"multiselect": True, "allow_custom_value": True, "choices": [], **common})
    if spec.kind == "suggest":
        return gr.Dropdown(**{"allow_custom_value": True, "choices": [], **common})
    if spec.kind in ("int", "float"):
        # No minimum/maximum here: Gradio would reject a bad value with a toast that names no field; the schema's
        # check names it under the buttons instead. Floats step by a tenth of their default's magnitude (1e-5 for 5e-5).
        return gr.Number(precision=0 if spec.kind == "int" else None, step=1 if spec.kind == "int" else float_step(spec.default), **common)
    return gr.Textbox(**common)


def float_step(default: Any) -> float:
    """The arrow-key step of a float box: the order of magnitude of its default (0.01 when the default is 0 or unset)."""
    if not isinstance(default, (int, float)) or default == 0:
        return 0.01
    return 10.0 ** math.floor(math.log10(abs(default)))


def _choice_value(choice: Any) -> Any:
    """Booleans become "true"/"false" (a dropdown holds strings or numbers)."""
    return str(choice).lower() if isinstance(choice, bool) else choice
