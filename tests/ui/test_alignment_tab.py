"""The Train tab for the alignment stages, in a real browser: the RLHF settings and the dataset list follow the stage,
and each stage trains from the tab (ppo with the reward model picked from the rm run just trained)."""

import json
import math

import pytest
import yaml
from browser_helpers import choose, click_history_row, open_page, type_into, wait_for
from conftest import ARTIFACTS, screenshot

from llamaboard.train_tab import ACCORDIONS
from workflows.run_dir import FINAL_STATES, PROVENANCE_FILE, RUN_CONFIG_FILE, RUNNING_LOG_FILE, STATUS_FILE, TRAINER_LOG_FILE, read_state
from workflows.stages import STAGES

pytestmark = pytest.mark.timeout(240)

FAST_ALIGNMENT = {  # two LoRA steps of the tiny model; max_new_tokens (ppo's rollouts) lands in the extra arguments box
    "stage": "rm",
    "finetuning_type": "lora",
    "dataset": "preference_demo",
    "max_steps": 2,
    "cutoff_len": 64,
    "logging_steps": 1,
    "save_steps": 100,
    "per_device_train_batch_size": 2,
    "learning_rate": 1.0e-3,
    "plot_loss": False,
    "ppo_epochs": 1,
    "reward_model_type": "full",  # picking the LoRA rm run must set it to lora
    "max_new_tokens": 8,
}
CONTRACT = (RUN_CONFIG_FILE, STATUS_FILE, TRAINER_LOG_FILE, RUNNING_LOG_FILE, PROVENANCE_FILE, "train_results.json", "trainer_state.json")


def options(page, field_id: str) -> list[str]:
    page.click(f"#{field_id} input")
    try:
        page.get_by_role("option").first.wait_for(timeout=5_000)  # the list renders a moment after the click
    except Exception:  # noqa: BLE001 - an empty list is an answer too
        pass
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [name.split("\n")[-1].strip() for name in names]  # a selected option reads "✓\nname"


def test_rlhf_settings_appear_for_dpo_and_the_dataset_list_switches_to_preference_data(app_server, page):
    open_page(page, app_server.url)
    assert not page.locator("#rlhf_accordion").is_visible(), "sft shows no RLHF settings"
    wait_for(lambda: "identity" in options(page, "train-field-dataset"), 20, "the sft datasets (filled after the page loads)")

    choose(page, "train-field-stage", "dpo")
    page.wait_for_selector("#rlhf_accordion", state="visible")
    offered = wait_for(
        lambda: [name for name in [options(page, "train-field-dataset")] if "dpo_demo" in name], 20, "the preference datasets"
    )[0]
    assert "identity" not in offered and {"preference_demo", "dpo_demo"} <= set(offered)
    # the demo form had `identity` chosen; dpo cannot train on it, so the choice is dropped rather than refused at Start
    wait_for(lambda: "identity" not in page.locator("#train-field-dataset").inner_text(), 20, "identity to be unselected")
    page.click("#rlhf_accordion > button")
    page.locator("#train-field-pref_beta").wait_for()  # the accordion opens a moment after the click
    for row in ACCORDIONS["rlhf_accordion"]:
        for key in row:
            assert page.locator(f"#train-field-{key}").is_visible(), key
    choose(page, "train-field-pref_loss", "orpo")
    screenshot(page, "train_tab_dpo_rlhf")

    choose(page, "train-field-stage", "kto")
    wait_for(lambda: "kto_demo" in options(page, "train-field-dataset"), 20, "the KTO datasets")
    assert page.locator("#rlhf_accordion").is_visible()
    choose(page, "train-field-stage", "sft")
    page.wait_for_selector("#rlhf_accordion", state="hidden")


def start(page, run_name: str) -> None:
    type_into(page, "run_name", run_name)
    page.click("#start_button")
    page.locator("#form_message").get_by_text(run_name).wait_for()


def switch_dataset(page, stage: str, dropped: str, dataset: str) -> None:
    """Choose ``stage``; once the tab has dropped the dataset that does not suit it, choose ``dataset``."""
    choose(page, "train-field-stage", stage)
    wait_for(lambda: dropped not in page.locator("#train-field-dataset").inner_text(), 20, f"{dropped} to be unselected")
    choose(page, "train-field-dataset", dataset)


def chart_traces(page) -> list[str]:
    return page.evaluate(
        "() => { const plot = document.querySelector('#train-loss_chart .js-plotly-plot'); "
        "return plot && plot.data ? plot.data.map(trace => trace.name) : []; }"
    )


@pytest.mark.timeout(600)
def test_each_alignment_stage_trains_from_the_tab_and_ppo_scores_with_the_picked_rm_run(app_server, page):
    saves = app_server.workdir / "saves" / "llamaboard-tiny" / "lora"
    (app_server.workdir / "configs").mkdir(exist_ok=True)
    (app_server.workdir / "configs" / "alignment.yaml").write_text(yaml.safe_dump(FAST_ALIGNMENT))
    page.set_default_timeout(60_000)  # four training jobs share the two cores with the app: its answers can take long
    open_page(page, app_server.url)
    type_into(page, "config_path", "configs/alignment.yaml")
    page.click("#load_config_button")
    page.locator("#form_message").get_by_text("Config loaded").wait_for()
    start(page, "rlhf_rm")  # the queue runs the jobs one after another: rm, dpo, kto, then ppo
    choose(page, "train-field-stage", "dpo")  # preference_demo suits dpo too
    start(page, "rlhf_dpo")
    switch_dataset(page, "kto", "preference_demo", "kto_demo")
    start(page, "rlhf_kto")
    switch_dataset(page, "ppo", "kto_demo", "instruct_demo")

    runs = {stage: saves / f"rlhf_{stage}" for stage in ("rm", "dpo", "kto", "ppo")}
    wait_for(lambda: read_state(runs["rm"]).state == "finished", 300, "the rm run")
    page.click("#rlhf_accordion > button")
    page.locator("#train-field-reward_model").scroll_into_view_if_needed()
    page.click("#train-field-reward_model input")
    rm_choice = "rm · lora · llamaboard-tiny/rlhf_rm"  # the picker lists the run that finished a moment ago
    page.get_by_role("option", name=rm_choice, exact=True).wait_for()
    screenshot(page, "rlhf_reward_model_picker")
    page.get_by_role("option", name=rm_choice, exact=True).click()
    page.keyboard.press("Escape")
    assert page.locator("#train-field-reward_model input").input_value() == rm_choice
    wait_for(lambda: page.locator("#train-field-reward_model_type input").input_value() == "lora", 30, "reward_model_type lora")
    start(page, "rlhf_ppo")

    wait_for(lambda: all(read_state(run).state in FINAL_STATES for run in runs.values()), 400, "the four runs to end")
    ppo_config = yaml.safe_load((runs["ppo"] / RUN_CONFIG_FILE).read_text())
    assert (ppo_config["reward_model"], ppo_config["reward_model_type"]) == (str(runs["rm"]), "lora")
    for stage, run in runs.items():
        state = read_state(run)
        assert state.state == "finished", f"{stage}: {state.error}"
        assert [name for name in CONTRACT if not (run / name).is_file()] == [], stage
        rows = [json.loads(line) for line in (run / TRAINER_LOG_FILE).read_text().splitlines()]
        assert [row["current_steps"] for row in rows if "loss" in row] == [1, 2], stage
        for metric in STAGES[stage].metrics:
            assert any(isinstance(row.get(metric), float) and math.isfinite(row[metric]) for row in rows), f"{stage}: {metric}"

    for stage in ("ppo", "rm", "dpo", "kto"):  # each run's chart: the loss and, dotted on the right axis, the stage's metrics
        if stage != "ppo":  # the panel follows the run started last
            click_history_row(page, f"llamaboard-tiny/lora/rlhf_{stage}")
        page.locator("#train-run_progress").get_by_text(f"rlhf_{stage}").wait_for()
        metrics = set(STAGES[stage].metrics)
        wait_for(lambda metrics=metrics: metrics <= set(chart_traces(page)), 20, f"the {stage} metrics on the chart")
        page.locator("#train-loss_chart").screenshot(path=str(ARTIFACTS / f"rlhf_{stage}_chart.png"))
    screenshot(page, "rlhf_history")
