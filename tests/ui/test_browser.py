"""The UI in a real browser: what a person sees and does, against a real app.py and real training.

Kept to a few tests (each starts the app or a training job); screenshots of
the main states are saved to test-artifacts/ for a person to look at.
"""

import json
import re
import urllib.request

import pytest
import yaml
from browser_helpers import chart_points, choose, click_history_row, open_page, type_into, wait_for
from conftest import AppServer, make_workdir, screenshot
from run_dirs import write_run

from llamaboard.locales import component_text
from llamaboard.train_tab import ACCORDIONS, BASIC_ROWS

pytestmark = pytest.mark.timeout(240)

FAST_RUN = {  # the tiny model, slowed by a large batch so a person (and this test) can watch it
    "dataset": "identity",
    "max_steps": 10,
    "logging_steps": 1,
    "save_steps": 10,
    "per_device_train_batch_size": 64,
    "learning_rate": 1.0e-3,
    "cutoff_len": 256,
}


def test_page_shows_every_train_control(app_server, page):
    open_page(page, app_server.url)
    shown = {accordion_id: rows for accordion_id, rows in ACCORDIONS.items() if accordion_id != "rlhf_accordion"}  # rlhf: alignment stages
    for accordion_id in shown:
        page.click(f"#{accordion_id} > button")
    keys = [key for row in BASIC_ROWS for key in row] + [key for rows in shown.values() for row in rows for key in row]
    keys += [
        "stage",
        "dataset_dir",
        "dataset",
        "eval_dataset",
        "model_name_or_path",
        "finetuning_type",
        "adapter_name_or_path",
        "quantization_bit",
        "template",
        "rope_scaling",
        "flash_attn",
    ]
    top = {"model_name_or_path", "finetuning_type", "adapter_name_or_path", "quantization_bit", "template", "rope_scaling", "flash_attn"}
    missing = [key for key in keys if not page.locator(f"#{'top' if key in top else 'train'}-field-{key}").is_visible()]
    assert missing == []
    for component_id in (
        "devices",
        "run_name",
        "config_path",
        "save_config_button",
        "load_config_button",
        "preview_command_button",
        "start_button",
        "train-history_table",
    ):
        assert page.locator(f"#{component_id}").is_visible(), component_id
    assert page.locator("#train-field-learning_rate").get_by_text("Learning rate", exact=True).is_visible()
    page.click("#train-field-dataset input")
    assert page.get_by_role("option", name="identity", exact=True).is_visible()
    screenshot(page, "train_tab_all_controls")


def test_language_switch_relabels_the_ui(app_server, page):
    open_page(page, app_server.url)
    choose(page, "lang", "中文")
    page.wait_for_function("() => document.querySelector('#start_button').innerText.trim() === '开始'")
    assert page.locator("#train-field-learning_rate").get_by_text(component_text("zh", "learning_rate"), exact=True).is_visible()
    assert page.locator("#extra_accordion").get_by_text(component_text("zh", "extra_accordion")).is_visible()
    screenshot(page, "language_zh")


def test_broken_dataset_info_shows_its_error_instead_of_an_empty_list(app_server, page):
    broken = app_server.workdir / "broken_data"
    broken.mkdir(exist_ok=True)
    (broken / "dataset_info.json").write_text('{"identity": {"file_name": "identity.json"},}')
    open_page(page, app_server.url)
    type_into(page, "train-field-dataset_dir", "broken_data", submit=True)
    error = page.locator("#dataset_error")
    error.get_by_text("is not valid JSON").wait_for()
    assert "line 1" in error.inner_text()
    screenshot(page, "broken_dataset_info")


def test_selecting_a_run_in_the_history_shows_its_curve_config_and_error(app_server, page):
    saves = app_server.workdir / "saves"
    write_run(saves, "history_done", "finished", steps=20, checkpoints=(10, 20))
    write_run(saves, "history_broken", "failed", steps=4, error="DatasetError: data/identity.json record 7 has no `output`")
    open_page(page, app_server.url)
    click_history_row(page, "llamaboard-tiny/lora/history_done")
    page.locator("#train-run_progress").get_by_text("history_done").wait_for()
    wait_for(lambda: chart_points(page) == 20, 20, "the selected run's 20 points")
    assert "history_done" in page.locator("#train-run_config").inner_text()
    click_history_row(page, "llamaboard-tiny/lora/history_broken")
    page.locator("#train-run_error").get_by_text("record 7 has no").wait_for()
    screenshot(page, "history_failed_run")


def test_run_from_the_form_streams_loss_reattaches_after_refresh_and_resumes_after_abort(app_server, page):
    config_path = app_server.workdir / "configs" / "fast.yaml"
    config_path.parent.mkdir(exist_ok=True)
    config_path.write_text(yaml.safe_dump({**FAST_RUN, "max_steps": 60, "save_steps": 5}))
    open_page(page, app_server.url)
    type_into(page, "config_path", "configs/fast.yaml")
    page.click("#load_config_button")
    page.locator("#form_message").get_by_text("Config loaded").wait_for()
    type_into(page, "run_name", "browser_run")
    type_into(page, "train-field-max_steps", "60")
    page.click("#start_button")
    page.locator("#form_message").get_by_text("Started browser_run").wait_for()
    run_dir = app_server.workdir / "saves" / "llamaboard-tiny" / "lora" / "browser_run"

    first = wait_for(lambda: chart_points(page), 120, "the first loss point")
    wait_for(lambda: chart_points(page) > first, 60, "the loss chart to grow")
    screenshot(page, "run_live_chart")

    page.reload()
    open_page(page, app_server.url)
    page.locator("#train-run_progress").get_by_text("browser_run").wait_for()
    wait_for(lambda: chart_points(page) > 0, 30, "the chart after a refresh")
    assert "running" in page.locator("#train-run_progress").inner_text()
    screenshot(page, "run_after_refresh")

    # at once, far from the end: on a busy machine the click can take half a minute to reach the server (the abort
    # itself saves the checkpoint to resume from)
    page.click("#train-abort_button")
    page.locator("#train-run_progress").get_by_text("aborted").wait_for(timeout=60_000)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "aborted"
    checkpoints = sorted(int(path.name.split("-")[1]) for path in run_dir.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] < 60
    screenshot(page, "run_aborted")

    page.click("#train-resume_button")
    page.locator("#train-run_progress").get_by_text("finished").wait_for(timeout=120_000)
    last = json.loads((run_dir / "trainer_log.jsonl").read_text().splitlines()[-1])
    assert last["current_steps"] == 60
    steps = [json.loads(line)["current_steps"] for line in (run_dir / "trainer_log.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps == sorted(set(steps)), "the resumed log repeats or skips steps"
    assert re.search(r"step 60/60", page.locator("#train-run_progress").inner_text())
    screenshot(page, "run_resumed_finished")


def test_exposed_launch_asks_for_login_with_the_printed_password(tmp_path, page):
    server = AppServer(make_workdir(tmp_path), {"GRADIO_SERVER_NAME": "0.0.0.0"}, tmp_path / "app.log")
    try:
        printed = re.search(r"log in as `(\S+)` with password `(\S+)`", server.output())
        assert printed, server.output()
        page.goto(server.url)
        page.wait_for_selector("input[type=password]")
        screenshot(page, "login_required")
        assert page.locator("#start_button").count() == 0
        page.fill("input[type=text]", printed.group(1))
        page.fill("input[type=password]", printed.group(2))
        page.keyboard.press("Enter")
        page.wait_for_selector("#start_button")
    finally:
        server.stop()


def test_the_page_events_are_not_listed_as_an_api(app_server, page):
    """Gradio writes the docs of every listed event into each page it serves (about 650 KB for ours). Ours are the
    page's own wiring; the API for programs is `python -m workflows api`. The other tests here drive the events."""
    with urllib.request.urlopen(app_server.url + "gradio_api/info", timeout=30) as response:
        info = json.loads(response.read())
    assert info["named_endpoints"] == {} and info["unnamed_endpoints"] == {}
    open_page(page, app_server.url)
    assert page.get_by_text("Built with Gradio").is_visible() and page.get_by_text("Use via API").count() == 0
