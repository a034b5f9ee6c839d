"""UI strings as data: ``locales/<lang>.yaml`` keyed by component id (and message id).

Each file has two sections. ``components`` maps a component id (a config key
such as ``learning_rate``, or a UI id such as ``start_button``) to its
``label`` and optional ``info`` (English info of a config key defaults to
the schema's description). ``messages`` maps a message id to a text with
``{placeholders}``. English is the fallback for anything missing, so a gap
shows English rather than a crash; a test keeps every file complete.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from workflows.config.loader import KEY_TO_GROUP, field_help

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
FALLBACK = "en"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: parses a locale file ~8x faster than pure Python
LANGUAGE_NAMES = {"en": "English", "zh": "中文", "ru": "Русский", "ja": "日本語", "ko": "한국어"}


@dataclass(frozen=True)
class Locale:
    components: dict[str, dict[str, str]]
    messages: dict[str, str]


@cache
def load_locale(lang: str) -> Locale:
    data: dict[str, Any] = yaml.load((LOCALES_DIR / f"{lang}.yaml").read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
    return Locale(data.get("components", {}), data.get("messages", {}))


def languages() -> list[str]:
    """Languages with a locale file, in the order of LANGUAGE_NAMES, then any others."""
    found = sorted(path.stem for path in LOCALES_DIR.glob("*.yaml"))
    return [lang for lang in LANGUAGE_NAMES if lang in found] + [lang for lang in found if lang not in LANGUAGE_NAMES]


def component_text(lang: str, component_id: str, part: str = "label") -> str:
    """``part`` (label or info) of a component, falling back to English, then (help of a config key) to the schema.

    English keeps only help that says more than the schema's description, so
    the description is written once, in ``workflows/config/schema.py``.
    """
    for source in (lang, FALLBACK):
        text = load_locale(source).components.get(component_id, {}).get(part)
        if text:
            return text
    if part == "info" and component_id in KEY_TO_GROUP:
        return field_help(component_id)
    return component_id if part == "label" else ""


def message(lang: str, message_id: str, **values: Any) -> str:
    text = load_locale(lang).messages.get(message_id) or load_locale(FALLBACK).messages.get(message_id, message_id)
    return text.format(**values)
