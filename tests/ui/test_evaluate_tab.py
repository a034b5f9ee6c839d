"""The Evaluate & Predict tab in a real browser: a predict job on the built-in tiny model, watched to its scores,
and the Train and Evaluate tabs keeping separate controls for the keys they share; and, without a browser, the
results tables and the top bar's choice as the job's model."""

import json
import re

import pytest
import yaml
from browser_helpers import open_page, type_into, wait_for
from conftest import screenshot

from llamaboard.evaluate_tab import metrics_table, predictions_table

pytestmark = pytest.mark.timeout(240)


def open_evaluate_tab(page, url: str) -> None:
    open_page(page, url)
    page.get_by_role("tab", name="Evaluate & Predict").click()
    page.locator("#eval-start_button").wait_for()


def command_yaml(page, component_id: str) -> str:
    """The lines of a gr.Code that CodeMirror draws (those in view: the model and data keys come first)."""
    code = page.locator(f"#{component_id} .cm-content")
    code.wait_for()
    return code.inner_text()


def test_train_and_evaluate_tabs_keep_their_own_controls_for_shared_keys(app_server, page):
    open_page(page, app_server.url)
    type_into(page, "train-field-max_samples", "7")
    page.click("#preview_command_button")
    assert re.search(r"^max_samples: 7$", command_yaml(page, "command_yaml"), re.M)
    page.get_by_role("tab", name="Evaluate & Predict").click()
    for key in ("dataset", "cutoff_len", "max_samples", "per_device_eval_batch_size"):
        assert page.locator(f"#eval-field-{key}").is_visible(), key
    type_into(page, "eval-field-max_samples", "3")
    page.click("#eval-preview_command_button")
    text = command_yaml(page, "eval-command_yaml")
    assert re.search(r"^max_samples: 3$", text, re.M)
    assert " predict " in page.locator("#eval-command_line").inner_text()
    page.get_by_role("tab", name="Train").click()
    page.click("#preview_command_button")
    page.wait_for_timeout(500)
    assert re.search(r"^max_samples: 7$", command_yaml(page, "command_yaml"), re.M)  # the Train tab's own value, untouched


def test_benchmark_mode_names_the_missing_task(app_server, page):
    open_evaluate_tab(page, app_server.url)
    page.locator("#eval-mode").get_by_label("Benchmark (MMLU / C-Eval / CMMLU)").check()
    page.locator("#eval-field-task").wait_for()
    assert not page.locator("#eval-field-dataset").is_visible()
    page.click("#eval-preview_command_button")
    page.locator("#eval-form_message").get_by_text("`task`").wait_for()


def test_predict_job_from_the_tab_shows_progress_metrics_and_predictions(app_server, page):
    open_evaluate_tab(page, app_server.url)
    assert not page.locator("#eval-field-do_sample input").is_checked()  # greedy by default: repeatable scores
    type_into(page, "eval-field-max_samples", "6")
    type_into(page, "eval-field-max_new_tokens", "8")
    type_into(page, "eval-field-per_device_eval_batch_size", "2")
    type_into(page, "eval-run_name", "browser_predict")
    page.click("#eval-preview_command_button")
    text = command_yaml(page, "eval-command_yaml")
    assert re.search(r"^dataset: identity$", text, re.M) and re.search(r"^max_samples: 6$", text, re.M)
    screenshot(page, "evaluate_tab_preview")
    page.click("#eval-start_button")
    page.locator("#eval-form_message").get_by_text("browser_predict").wait_for()
    page.locator("#eval-run_progress").get_by_text("browser_predict").wait_for()
    page.locator("#eval-run_progress").get_by_text("finished").wait_for(timeout=180_000)
    metrics = page.locator("#eval-metrics")
    metrics.get_by_text("predict_bleu-4").wait_for(timeout=20_000)
    predictions = page.locator("#eval-predictions")
    predictions.get_by_text("prediction").first.wait_for()
    assert page.locator("#eval-results_note").get_by_text("browser_predict").is_visible()
    screenshot(page, "evaluate_tab_predict_done")

    run_dir = app_server.workdir / "saves" / "llamaboard-tiny" / "predict" / "browser_predict"
    written = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert (written["do_sample"], written["max_new_tokens"], written["do_predict"], written["task"]) == (False, 8, True, None)
    table = predictions_table(run_dir, "en")
    assert len(table["data"]) == 6 and table["headers"] == ["#", "BLEU-4", "ROUGE-L", "prompt", "prediction", "reference"]
    first_reference = table["data"][0][5]
    wait_for(lambda: predictions.get_by_text(first_reference[:30]).count() > 0, 10, "the first reference in the table")
    scores = dict(metrics_table(run_dir, "en")["data"])
    assert scores["predict_samples"] == 6 and scores["complete"] is True
    # the history lists the job as a predict run
    assert "predict" in page.locator("#eval-history_table").inner_text()


def test_benchmark_results_and_answers_become_tables(tmp_path):
    """results.json (per category and subject) and benchmark_answers.jsonl as the tab shows them."""
    results = {
        "task": "mmlu_test",
        "complete": True,
        "categories": {"Average": {"accuracy": 50.0, "correct": 1, "total": 2}, "STEM": {"accuracy": None, "correct": 0, "total": 0}},
        "subjects": {"abstract_algebra": {"name": "abstract algebra", "category": "STEM", "accuracy": 50.0, "correct": 1, "total": 2}},
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    answers = [{"subject": "abstract_algebra", "index": 0, "answer": "A", "predict": "A", "correct": True}]
    (tmp_path / "benchmark_answers.jsonl").write_text("".join(json.dumps(row) + "\n" for row in answers) + '{"half a line')
    table = metrics_table(tmp_path, "zh")
    assert table["headers"][2] == "准确率（%）"
    assert table["data"] == [["Average", "", 50.0, 1, 2], ["STEM", "", "", 0, 0], ["abstract algebra", "STEM", 50.0, 1, 2]]
    assert predictions_table(tmp_path, "en")["data"] == [["abstract_algebra", 1, "A", "A", True]]
    assert metrics_table(tmp_path / "missing", "en") is None and predictions_table(None, "en") is None


def test_a_full_runs_checkpoint_picked_in_the_top_bar_is_the_model_evaluated(tmp_path):
    """As in Chat and Export: LoRA selections stay adapters, a full run's checkpoint becomes model_name_or_path."""
    from llamaboard.evaluate_tab import checkpoint_as_model, mode_values
    from llamaboard.paths import Workspace
    from llamaboard.run_builder import prepare_run

    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    checkpoint = tmp_path / "saves" / "llamaboard-tiny" / "full" / "run" / "checkpoint-5"
    checkpoint.mkdir(parents=True)
    bar = {"model_name_or_path": "llamaboard-tiny", "finetuning_type": "full", "adapter_name_or_path": str(checkpoint)}
    values = mode_values("predict", {**bar, "dataset": "identity"}, set(bar))
    full = checkpoint_as_model(prepare_run(values, "on_checkpoint", [], workspace, kind="predict"))
    assert full.run_dir == tmp_path / "saves" / "llamaboard-tiny" / "predict" / "on_checkpoint"  # beside the base model's jobs
    assert (full.config.model.model_name_or_path, full.config.model.adapter_name_or_path) == (str(checkpoint), None)
    written = yaml.safe_load(full.yaml_text)
    assert (written["model_name_or_path"], written["adapter_name_or_path"]) == (str(checkpoint), None)
    assert written["output_dir"] == str(full.run_dir)
    lora = checkpoint_as_model(prepare_run({**values, "finetuning_type": "lora"}, "on_adapter", [], workspace, kind="predict"))
    assert (lora.config.model.model_name_or_path, lora.config.model.adapter_name_or_path) == ("llamaboard-tiny", str(checkpoint))
