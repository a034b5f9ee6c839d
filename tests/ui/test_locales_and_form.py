"""Locales are complete in every language, and the form covers the schema without a second list of options."""

import re
from pathlib import Path

import pytest
import yaml

from llamaboard.controls import FieldSpec
from llamaboard.evaluate_tab import NOT_SHOWN as NOT_IN_EVALUATE_TAB
from llamaboard.locales import LOCALES_DIR, component_text, languages
from llamaboard.paths import Workspace
from llamaboard.train_tab import NOT_IN_FORM
from llamaboard.ui import build_ui
from workflows.config.loader import KEY_TO_GROUP, field_help
from workflows.config.schema import GROUPS

LLAMABOARD_DIR = Path(__file__).resolve().parents[2] / "llamaboard"
LOCALE_FILES = {lang: yaml.safe_load((LOCALES_DIR / f"{lang}.yaml").read_text(encoding="utf-8")) for lang in languages()}
# Groups whose keys are not form controls: sampling is per chat (Chat tab), pass-through TrainingArguments go in the
# Train tab's extra-arguments box. The evaluation keys are the Evaluate & Predict tab's (but those it deliberately
# leaves out, NOT_IN_EVALUATE_TAB); the Export tab shows every export key.
GROUPS_ELSEWHERE = {"generation", "passthrough"}


@pytest.fixture(scope="module")
def labelled_ids(tmp_path_factory) -> set[str]:
    """Every component id the built UI registers for labels (fields and UI-only parts)."""
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path_factory.mktemp("w"))})
    _, form = build_ui(workspace)
    return form.locale_ids()


@pytest.fixture(scope="module")
def field_ids(tmp_path_factory) -> set[str]:
    """Config keys shown as form controls (in any tab)."""
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path_factory.mktemp("w"))})
    _, form = build_ui(workspace)
    return {locale_id for elem_id, (locale_id, _) in form.labelled.items() if "-field-" in elem_id}


def test_english_and_chinese_and_more_are_present():
    assert {"en", "zh"} <= set(LOCALE_FILES) and len(LOCALE_FILES) >= 2


@pytest.mark.parametrize("lang", sorted(LOCALE_FILES))
def test_every_language_has_every_component_and_message_of_english(lang, field_ids):
    english, other = LOCALE_FILES["en"], LOCALE_FILES[lang]
    assert set(other["components"]) == set(english["components"])
    for component_id, texts in english["components"].items():
        parts = set(other["components"][component_id])
        assert set(texts) <= parts, f"{lang}: {component_id}"
        assert parts - set(texts) <= ({"info"} if component_id in KEY_TO_GROUP else set()), f"{lang}: {component_id}"
        assert all(value.strip() for value in other["components"][component_id].values()), f"{lang}: {component_id}"
    # help English leaves to the schema is still translated for every config control of the UI
    untranslated = [key for key in field_ids if field_help(key) and "info" not in other["components"].get(key, {}) and lang != "en"]
    assert untranslated == []
    assert set(other["messages"]) == set(english["messages"])
    for message_id, text in english["messages"].items():
        assert set(re.findall(r"{(\w+)}", other["messages"][message_id])) == set(re.findall(r"{(\w+)}", text)), f"{lang}: {message_id}"


def test_english_help_says_more_than_the_schema_or_is_left_to_it():
    """English help is written once: where it would repeat the schema's description, the schema provides it."""
    repeated = [
        component_id
        for component_id, parts in LOCALE_FILES["en"]["components"].items()
        if component_id in KEY_TO_GROUP and parts.get("info") == field_help(component_id)
    ]
    assert repeated == []
    assert component_text("en", "learning_rate", "info") == field_help("learning_rate")
    assert component_text("zh", "learning_rate", "info") == LOCALE_FILES["zh"]["components"]["learning_rate"]["info"]


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
    keys = {key for group, model in GROUPS.items() if group not in GROUPS_ELSEWHERE for key in model.model_fields}
    assert keys - labelled_ids - NOT_IN_FORM - NOT_IN_EVALUATE_TAB == set()
    assert NOT_IN_FORM <= keys


def test_controls_take_their_choices_and_bounds_from_the_schema():
    assert FieldSpec.of("lr_scheduler_type").choices == tuple(GROUPS["training"].model_fields["lr_scheduler_type"].annotation.__args__)
    assert FieldSpec.of("cutoff_len").minimum == 8
    assert FieldSpec.of("quantization_bit").optional and FieldSpec.of("quantization_bit").choices == (4, 8)
    assert FieldSpec.of("use_dora").kind == "bool" and FieldSpec.of("max_samples").kind == "optional_number"


def test_events_that_show_no_progress_track_it_on_one_component_so_a_language_switch_stays_quick(tmp_path):
    """The browser refreshes every tracked component's status at each event's every status message (bench/ui_interactions.py)."""
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    demo, form = build_ui(workspace)
    events = demo.get_config_file()["dependencies"]
    relabel = max(events, key=lambda event: len(event["outputs"]))
    assert len(relabel["outputs"]) > 200, "the language switch relabels every component"
    quiet = [event for event in events if event["show_progress"] == "hidden"]
    assert {tuple(event["show_progress_on"] or event["outputs"]) for event in quiet} == {(form.labelled["title"][1]._id,)}
    on_load_or_timer = [event for event in events if all(trigger in ("load", "tick") for _, trigger in event["targets"])]
    assert on_load_or_timer and all(event["show_progress"] == "hidden" for event in on_load_or_timer)


def test_a_language_switch_is_one_event_that_sends_each_component_its_label_with_its_other_updates(tmp_path):
    """One event per switch (a reload that restores the language fired eleven); a control both relabelled and
    updated (a run panel's button, the evaluation modes) gets one update carrying both."""
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    demo, form = build_ui(workspace)
    lang = form.labelled["lang"][1]
    on_switch = [event for event in demo.fns.values() if (lang._id, "change") in event.targets]
    assert sorted(event.name for event in on_switch) == ["save", "switch_language"]  # save: the form kept in the browser
    switch = next(event for event in on_switch if event.name == "switch_language")
    data = {block: block.value() if callable(block.value) else block.value for block in switch.inputs}
    updates = switch.fn({**data, lang: "zh"}, None)
    by_id = {block.elem_id: update for block, update in updates.items() if getattr(block, "elem_id", None)}
    assert by_id["train-abort_button"] == {"__type__": "update", "value": component_text("zh", "abort_button"), "interactive": False}
    modes = by_id["eval-mode"]
    assert modes["label"] == component_text("zh", "eval_mode") and ("预测（BLEU/ROUGE）", "predict") in modes["choices"]
    assert by_id["train-history_table"]["value"]["headers"][0] == "运行"
    assert "进程" in by_id["train_processes"]
