"""The form survives a page refresh, per browser (issue 14, item 17): fields, language, finetuning type, adapters.

A second browser (another context: its own localStorage) still opens with the
demo defaults, and a stored adapter deleted from saves/ meanwhile is dropped
without an error toast.
"""

import shutil
import time

import pytest
from browser_helpers import choose, open_page, type_into, wait_for
from conftest import screenshot
from run_dirs import write_run

pytestmark = pytest.mark.timeout(240)

STORAGE_KEY = "llamaboard-form"


def chips(page, elem_id: str) -> list[str]:
    """The items a multiselect dropdown shows as chips."""
    return [text.strip() for text in page.locator(f"#{elem_id} .token").all_inner_texts()]


def field_value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first.input_value()


def stored_after_settling(page, quiet_s: float = 1.5, timeout_s: float = 20) -> str:
    """The browser's stored form once it stopped changing for ``quiet_s`` (the last change was saved)."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while time.monotonic() < deadline:
        current = page.evaluate(f"() => localStorage.getItem('{STORAGE_KEY}')")
        if current != last:
            last, since = current, time.monotonic()
        elif current and time.monotonic() - since >= quiet_s:
            return current
        time.sleep(0.25)
    raise AssertionError("the form was never saved in the browser")


def error_toasts(page) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


def test_form_language_and_adapters_survive_a_refresh_but_not_another_browser(app_server, page, browser):
    saves = app_server.workdir / "saves"
    kept = write_run(saves, "persist_kept", "finished", steps=3)
    gone = write_run(saves, "persist_gone", "finished", steps=3)
    for run_dir in (kept, gone):
        (run_dir / "adapter_config.json").write_text("{}")
        (run_dir / "adapter_model.safetensors").write_bytes(b"")

    open_page(page, app_server.url)
    type_into(page, "train-field-learning_rate", "0.0007")
    type_into(page, "train-field-max_steps", "7")
    page.keyboard.press("Tab")
    choose(page, "train-field-dataset", "instruct_demo")
    choose(page, "top-field-finetuning_type", "lora")
    wait_for(lambda: field_value(page, "top-field-finetuning_type") == "lora", 10, "the finetuning type to switch")
    for adapter in ("persist_kept", "persist_gone"):
        page.click("#title")  # blur first: a click into the focused box would close its list
        choose(page, "top-field-adapter_name_or_path", adapter)
    choose(page, "lang", "中文")
    page.wait_for_function("() => document.querySelector('#start_button').innerText.trim() === '开始'", timeout=60_000)
    expected_run_name = field_value(page, "run_name")
    assert chips(page, "top-field-adapter_name_or_path") == ["persist_kept", "persist_gone"]
    stored_after_settling(page)

    shutil.rmtree(gone)  # deleted meanwhile: dropped silently on restore
    page.reload()
    page.wait_for_selector("#start_button")
    page.wait_for_function("() => document.querySelector('#start_button').innerText.trim() === '开始'", timeout=60_000)
    wait_for(lambda: field_value(page, "train-field-learning_rate") == "0.0007", 20, "the learning rate to be restored")
    wait_for(lambda: chips(page, "top-field-adapter_name_or_path") == ["persist_kept"], 20, "the kept adapter to be restored")
    assert field_value(page, "train-field-max_steps") == "7"
    assert field_value(page, "top-field-finetuning_type") == "lora"
    assert chips(page, "train-field-dataset") == ["identity", "instruct_demo"]
    wait_for(lambda: field_value(page, "run_name") == expected_run_name, 10, "the run name to be restored")
    # the monitor names the run it shows, and its config box holds that run's run.yaml
    wait_for(lambda: "persist_" in page.locator("#train-run_progress").inner_text(), 10, "the run panel to name its run")
    watched = page.locator("#train-run_progress code").inner_text()
    wait_for(lambda: f"# {watched}/run.yaml" in page.locator("#train-run_config").inner_text(), 10, "the run's config in the panel")
    time.sleep(1)
    assert error_toasts(page) == []
    screenshot(page, "persistence_after_reload")

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(20_000)
        open_page(fresh, app_server.url)
        time.sleep(1)
        assert fresh.locator("#start_button").inner_text().strip() == "Start"
        assert field_value(fresh, "train-field-learning_rate") == "0.003"
        assert field_value(fresh, "top-field-finetuning_type") == "full"
        assert chips(fresh, "top-field-adapter_name_or_path") == []
        assert chips(fresh, "train-field-dataset") == ["identity"]
    finally:
        other.close()


def test_stored_values_that_no_longer_fit_are_dropped_without_an_error(workdir):
    """No browser: what restore sends for odd stored values (wrong types, gone choices, garbage) is only what fits."""
    import gradio as gr

    from llamaboard.paths import Workspace
    from llamaboard.persistence import _choice_sources, _stored_values, persisted_controls, restore_updates
    from llamaboard.ui import build_ui

    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(workdir)})
    kept = write_run(workspace.saves_dir, "kept", "finished")
    (kept / "adapter_config.json").write_text("{}")
    _, form = build_ui(workspace)
    controls = persisted_controls(form)
    assert {"lang", "run_name", "eval-run_name", "export-run_name", "top-field-adapter_name_or_path", "train-field-learning_rate"} <= set(
        controls
    )
    stored = {
        "lang": "zh",
        "train-field-learning_rate": 0.0007,
        "train-field-max_steps": "seven",  # wrong type: dropped
        "top-field-finetuning_type": "lora",
        "top-field-quantization_bit": "3",  # not a choice: dropped
        "top-field-adapter_name_or_path": [str(kept), str(kept.parent / "deleted")],
        "train-field-dataset": ["identity", "gone_dataset"],
        "train-field-bf16": "yes",  # not a bool: dropped
        "no-such-control": 1,
    }
    updates = restore_updates(controls, stored, _choice_sources(workspace, controls))
    shown = {elem_id: updates[component] for elem_id, component in controls.items() if updates[component] != gr.skip()}
    assert shown["lang"] == "zh" and shown["train-field-learning_rate"] == 0.0007 and shown["top-field-finetuning_type"] == "lora"
    assert shown["top-field-adapter_name_or_path"]["value"] == [str(kept)]
    assert shown["train-field-dataset"]["value"] == ["identity"]
    assert not {"train-field-max_steps", "top-field-quantization_bit", "train-field-bf16"} & set(shown)
    assert _stored_values("garbage") == {} and _stored_values({"version": 99, "values": {"lang": "zh"}}) == {}
