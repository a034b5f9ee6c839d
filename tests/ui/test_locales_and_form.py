"""Locales are complete in every language, and the form covers the schema without a second list of options."""

import re
from pathlib import Path

import pytest
import yaml

from llamaboard.controls import FieldSpec
from llamaboard.locales import LOCALES_DIR, languages
from llamaboard.paths import Workspace
from llamaboard.train_tab import NOT_IN_FORM
from llamaboard.ui import build_ui
from workflows.config.schema import GROUPS

LLAMABOARD_DIR = Path(__file__).resolve().parents[2] / "llamaboard"
LOCALE_FILES = {lang: yaml.safe_load((LOCALES_DIR / f"{lang}.yaml").read_text(encoding="utf-8")) for lang in languages()}
CHAT_TAB_GROUPS = {"generation"}  # sampling settings belong to the chat tab (a later issue)


@pytest.fixture(scope="module")
def labelled_ids(tmp_path_factory) -> set[str]:
    """Every component id the built UI registers for labels (fields and UI-only parts)."""
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path_factory.mktemp("w"))})
    _, form = build_ui(workspace)
    return set(form.labelled)


def test_english_and_chinese_and_more_are_present():
    assert {"en", "zh"} <= set(LOCALE_FILES) and len(LOCALE_FILES) >= 2


@pytest.mark.parametrize("lang", sorted(LOCALE_FILES))
def test_every_language_has_every_component_and_message_of_english(lang):
    english, other = LOCALE_FILES["en"], LOCALE_FILES[lang]
    assert set(other["components"]) == set(english["components"])
    for component_id, texts in english["components"].items():
        assert set(other["components"][component_id]) == set(texts), f"{lang}: {component_id}"
        assert all(value.strip() for value in other["components"][component_id].values()), f"{lang}: {component_id}"
    assert set(other["messages"]) == set(english["messages"])
    for message_id, text in english["messages"].items():
        assert set(re.findall(r"{(\w+)}", other["messages"][message_id])) == set(re.findall(r"{(\w+)}", text)), f"{lang}: {message_id}"


def test_every_component_of_the_ui_has_a_label_in_the_locales(labelled_ids):
    assert labelled_ids - set(LOCALE_FILES["en"]["components"]) == set()


def test_every_message_the_code_uses_exists_in_english():
    used = set()
    for path in LLAMABOARD_DIR.glob("*.py"):
        used |= set(re.findall(r'message\(\s*\w+,\s*"(\w+)"\s*[,)]', path.read_text()))
    assert used - set(LOCALE_FILES["en"]["messages"]) == set()
    for state in ("created", "queued", "starting", "running", "finished", "failed", "aborted"):
        assert f"state_{state}" in LOCALE_FILES["en"]["messages"]
    assert {"run_started", "run_queued"} <= set(LOCALE_FILES["en"]["messages"])


def test_every_schema_key_is_a_control_or_deliberately_elsewhere(labelled_ids):
    keys = {key for group, model in GROUPS.items() if group not in CHAT_TAB_GROUPS for key in model.model_fields}
    assert keys - labelled_ids - NOT_IN_FORM == set()
    assert NOT_IN_FORM <= keys


def test_controls_take_their_choices_and_bounds_from_the_schema():
    assert FieldSpec.of("lr_scheduler_type").choices == tuple(GROUPS["training"].model_fields["lr_scheduler_type"].annotation.__args__)
    assert FieldSpec.of("cutoff_len").minimum == 8
    assert FieldSpec.of("quantization_bit").optional and FieldSpec.of("quantization_bit").choices == (4, 8)
    assert FieldSpec.of("use_dora").kind == "bool" and FieldSpec.of("max_samples").kind == "optional_number"
