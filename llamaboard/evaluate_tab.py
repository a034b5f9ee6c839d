"""The Evaluate & Predict tab: score the top bar's model (with its adapters or checkpoint) as a job, then show the results.

Three modes, each a ``workflows`` command run through the shared queue:

- **predict** (``python -m workflows predict``, kind ``predict``): answer every
  example of the datasets, score each answer with BLEU-4 / ROUGE;
- **benchmark** (``python -m workflows eval`` with ``task``, kind ``eval``):
  multiple-choice accuracy per subject and category (MMLU / C-Eval / CMMLU);
- **loss** (``python -m workflows eval`` without ``task``, kind ``eval``):
  loss and perplexity on the datasets.

The form is this tab's own scope ("eval"), so keys the Train tab also shows
(``dataset``, ``cutoff_len``, ...) are separate controls. Preview and Start go
through ``prepare_run`` like the Train tab. When the watched job has results,
the metrics table and the browsable predictions (or benchmark answers) are
read from its run directory; nothing is kept in memory but what was last shown.
"""

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from llamaboard.datasets import dataset_names
from llamaboard.form import Form
from llamaboard.job_controls import build_job_controls, wire_job_controls
from llamaboard.leaderboard import build_leaderboard
from llamaboard.locales import message
from llamaboard.notices import notice
from llamaboard.paths import Workspace
from llamaboard.run_builder import PreparedRun, prepare_run, render_yaml
from llamaboard.run_panel import RunView, build_run_panel
from llamaboard.run_queue import RunQueue
from llamaboard.top_bar import TopBar, source_values
from workflows.errors import ConfigError, UserError
from workflows.run_dir import (
    EVAL_ANSWERS_FILE,
    EVAL_LOSS_FILE,
    EVAL_RESULTS_FILE,
    PREDICT_RESULTS_FILE,
    PREDICT_SCORES_FILE,
    PREDICTIONS_FILE,
)

MODES = ("predict", "benchmark", "loss")
MODE_KIND = {"predict": "predict", "benchmark": "eval", "loss": "eval"}
DATA_KEYS = ("dataset_dir", "dataset", "max_samples", "cutoff_len", "per_device_eval_batch_size")
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "do_sample")
BENCHMARK_KEYS = ("task", "task_dir", "lang", "n_shot", "batch_size")
MODE_KEYS = {
    "predict": DATA_KEYS + GENERATION_KEYS,
    "benchmark": ("max_samples", *BENCHMARK_KEYS),  # max_samples: questions per subject
    "loss": DATA_KEYS,
}
MODE_FLAGS = {  # LLaMA-Factory's flags, so the run.yaml says what it is (and `workflows train` on it does the same)
    "predict": {"do_predict": True, "predict_with_generate": True},
    "benchmark": {},
    "loss": {"do_eval": True},
}
BENCHMARK_TASKS = ("mmlu_test", "ceval_validation", "cmmlu_test")
# Evaluation keys this tab does not show: save_dir names the job folder, which the run name does here.
NOT_SHOWN = frozenset({"save_dir"})
EVAL_MAX_NEW_TOKENS = 128  # a short answer; the schema's 1024 makes predict slow on a CPU
MAX_ROWS = 2000  # predictions shown at most (the file keeps them all)
RESULT_FILES = (PREDICT_RESULTS_FILE, PREDICTIONS_FILE, PREDICT_SCORES_FILE, EVAL_RESULTS_FILE, EVAL_ANSWERS_FILE, EVAL_LOSS_FILE)
POLL_INTERVAL_S = 2.0


def new_run_name(mode: str = "predict") -> str:
    return datetime.now().strftime(f"{mode}_%Y-%m-%d-%H-%M-%S")


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(message(lang, f"eval_mode_{mode}"), mode) for mode in MODES]


def mode_values(mode: str, values: dict[str, Any], bar_keys: set[str]) -> dict[str, Any]:
    """The config of a job in ``mode``: the top bar's keys, the mode's own fields, and its fixed flags."""
    if mode not in MODES:
        raise ConfigError(f"Unknown evaluation mode {mode!r}: choose one of {', '.join(MODES)}.")
    chosen = {key: value for key, value in values.items() if key in bar_keys or key in MODE_KEYS[mode]}
    if mode == "benchmark" and not chosen.get("task"):
        raise ConfigError("`task`: choose a benchmark and split, e.g. mmlu_test, ceval_validation or cmmlu_test.")
    if mode != "benchmark" and not chosen.get("dataset"):
        raise ConfigError("`dataset`: choose one or more datasets from dataset_info.json.")
    return {**chosen, **MODE_FLAGS[mode]}


def checkpoint_as_model(prepared: PreparedRun) -> PreparedRun:
    """A full or freeze run's checkpoint picked in the top bar is itself the model evaluated, as in Chat and Export
    (LoRA and OFT selections stay adapters); the job folder keeps the base model's name, beside its other evaluations."""
    config, model = prepared.config, prepared.config.model
    chosen = source_values(
        {
            "model_name_or_path": model.model_name_or_path,
            "finetuning_type": config.finetuning.finetuning_type,
            "adapter_name_or_path": model.adapter_name_or_path,
        }
    )
    if chosen["adapter_name_or_path"] == model.adapter_name_or_path:
        return prepared
    config = config.replace(model_name_or_path=chosen["model_name_or_path"], adapter_name_or_path=None)
    return replace(prepared, config=config, yaml_text=render_yaml(config))


def _read_json(path: Path) -> Optional[Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_jsonl(path: Path, limit: int = MAX_ROWS) -> list[dict]:
    rows = []
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if len(rows) >= limit:
                    break
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break  # a line still being written
    except OSError:
        return []
    return rows


def _number(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else ("" if value is None else value)


def _count_row(name: str, category: str, count: dict) -> list:
    return [name, category, _number(count.get("accuracy")), count.get("correct"), count.get("total")]


def metrics_table(run_dir: Optional[Path], lang: str) -> Optional[dict[str, Any]]:
    """The job's scores as a gr.Dataframe value; None when it has none (yet)."""
    if run_dir is None:
        return None
    benchmark = _read_json(run_dir / EVAL_RESULTS_FILE)
    if isinstance(benchmark, dict) and "categories" in benchmark:
        headers = [message(lang, f"column_{column}") for column in ("group", "category", "accuracy", "correct", "total")]
        rows = [_count_row(name, "", count) for name, count in benchmark["categories"].items()]
        subjects = (benchmark.get("subjects") or {}).items()
        rows += [_count_row(subject.get("name", key), subject.get("category", ""), subject) for key, subject in subjects]
        return {"headers": headers, "data": rows}
    for name in (PREDICT_RESULTS_FILE, EVAL_LOSS_FILE):
        results = _read_json(run_dir / name)
        if isinstance(results, dict):
            headers = [message(lang, "column_metric"), message(lang, "column_value")]
            return {"headers": headers, "data": [[key, _number(value)] for key, value in results.items()]}
    return None


def predictions_table(run_dir: Optional[Path], lang: str) -> Optional[dict[str, Any]]:
    """Predict: each row's BLEU-4 and ROUGE-L with its prompt / prediction / reference; benchmark: each question's answer."""
    if run_dir is None:
        return None
    predictions = _read_jsonl(run_dir / PREDICTIONS_FILE)
    if predictions:
        scores = _read_jsonl(run_dir / PREDICT_SCORES_FILE)
        columns = ("number", "bleu4", "rougel", "prompt", "prediction", "reference")  # the short scores first: always in view
        rows = []
        for number, record in enumerate(predictions):
            score = scores[number] if number < len(scores) else {}
            rows.append(
                [
                    number + 1,
                    _number(score.get("bleu-4")),
                    _number(score.get("rouge-l")),
                    record.get("prompt", ""),
                    record.get("predict", ""),
                    record.get("label", ""),
                ]
            )
        return {"headers": [message(lang, f"column_{column}") for column in columns], "data": rows}
    answers = _read_jsonl(run_dir / EVAL_ANSWERS_FILE)
    if answers:
        columns = ("subject", "number", "reference", "prediction", "correct")
        rows = [
            [row.get("subject"), row.get("index", 0) + 1, row.get("answer"), row.get("predict"), bool(row.get("correct"))]
            for row in answers
        ]
        return {"headers": [message(lang, f"column_{column}") for column in columns], "data": rows}
    return None


def _results_token(run_dir: Optional[Path], lang: str) -> tuple:
    if run_dir is None:
        return (None, lang)
    stamps = []
    for name in RESULT_FILES:
        try:
            stat = (run_dir / name).stat()
            stamps.append((name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            pass
    return (str(run_dir), lang, tuple(stamps))


def build_evaluate_tab(demo: gr.Blocks, form: Form, bar: TopBar, workspace: Workspace, queue: RunQueue) -> None:
    scope = form.scope("eval", extends=bar.scope)
    bar_keys = set(bar.scope.fields)
    mode = form.control("eval_mode", gr.Radio, elem_id="eval-mode", choices=mode_choices(form.lang), value="predict")
    with gr.Group() as data_group:
        with gr.Row(equal_height=True):
            dataset_dir = scope.field("dataset_dir", scale=1)
            dataset = scope.field("dataset", kind="names", scale=3)
        with gr.Row(equal_height=True):
            for key in ("max_samples", "cutoff_len", "per_device_eval_batch_size"):
                scope.field(key, min_width=140)
    with gr.Row(equal_height=True) as generation_row:
        scope.field("max_new_tokens", value=EVAL_MAX_NEW_TOKENS, min_width=140)
        scope.field("temperature", min_width=140)
        scope.field("top_p", min_width=140)
        scope.field("do_sample", value=False, min_width=140)  # greedy: scores that repeat
    with gr.Row(equal_height=True, visible=False) as benchmark_row:
        scope.field("task", kind="suggest", choices=list(BENCHMARK_TASKS), min_width=160)
        scope.field("task_dir", min_width=160)
        scope.field("lang", min_width=100)
        scope.field("n_shot", min_width=100)
        scope.field("batch_size", min_width=100)
    dataset_error = gr.HTML(elem_id="eval-dataset_error")
    run_name = form.control("run_name", gr.Textbox, elem_id="eval-run_name", value=new_run_name)
    controls = build_job_controls(form, "eval-", "start_button")
    form_message, command_row = controls.message, controls.command_row
    panel = build_run_panel(
        demo, form, workspace, queue, bar.lang, bar.devices, kinds=("eval", "predict"), scope="eval", notice_box=form_message
    )
    with form.accordion("eval_results_accordion", elem_id="eval-results_accordion", open=True):
        results_note = gr.HTML(elem_id="eval-results_note")
        metrics = form.control("eval_metrics", gr.Dataframe, elem_id="eval-metrics", interactive=False, wrap=True, max_height=360)
        predictions = form.control(
            "eval_predictions", gr.Dataframe, elem_id="eval-predictions", interactive=False, wrap=True, max_height=520
        )
    build_leaderboard(form, bar, workspace)
    shown = gr.State(None)
    timer = gr.Timer(POLL_INTERVAL_S)

    form_inputs = {*scope.fields.values(), mode, run_name, bar.devices, bar.lang}

    def prepare(data: dict) -> PreparedRun:
        chosen = data[mode]
        values = mode_values(chosen, scope.config_values(data), bar_keys)
        if values.get("task_dir"):
            values["task_dir"] = str(workspace.confine(values["task_dir"], "task_dir"))
        return checkpoint_as_model(prepare_run(values, data[run_name], data[bar.devices] or [], workspace, kind=MODE_KIND[chosen]))

    def switch_mode(chosen: str, current_name: str) -> dict:
        return {
            data_group: gr.Group(visible=chosen != "benchmark"),
            generation_row: gr.Row(visible=chosen == "predict"),
            benchmark_row: gr.Row(visible=chosen == "benchmark"),
            # a name already made for this mode stays (a restored form sets mode and name together)
            run_name: current_name if (current_name or "").startswith(f"{chosen}_") else new_run_name(chosen),
            command_row: gr.Row(visible=False),
            form_message: "",
        }

    def refresh_datasets(folder: str) -> tuple:
        try:
            names = dataset_names(workspace.confine(folder, "dataset_dir"), "sft")
        except UserError as error:
            return gr.Dropdown(choices=[]), notice(str(error), "error")
        return gr.Dropdown(choices=names), ""

    def show_results(view: RunView, lang: str, last: Optional[tuple]) -> tuple:
        run_dir = view.run_dir if view else None
        token = _results_token(run_dir, lang)
        if token == last:
            return gr.skip(), gr.skip(), gr.skip(), last
        table, rows = metrics_table(run_dir, lang), predictions_table(run_dir, lang)
        if run_dir is None or (table is None and rows is None):
            note = notice(message(lang, "eval_no_results"), "note")
        else:
            note = notice(message(lang, "eval_results_of", run=run_dir.name), "note")
        empty = {"headers": [""], "data": [[""]]}
        return note, table or empty, rows or empty, token

    demo.load(refresh_datasets, dataset_dir, [dataset, dataset_error])
    gr.on([dataset_dir.submit, dataset_dir.blur], refresh_datasets, dataset_dir, [dataset, dataset_error], trigger_mode="always_last")
    mode.change(switch_mode, [mode, run_name], [data_group, generation_row, benchmark_row, run_name, command_row, form_message])
    form.on_language(lambda lang, chosen: gr.update(choices=mode_choices(lang), value=chosen), [bar.lang, mode], [mode])
    wire_job_controls(
        controls,
        inputs=form_inputs,
        prepare=prepare,
        lang=bar.lang,
        run_name=run_name,
        next_run_name=lambda data: new_run_name(data[mode]),
        workspace=workspace,
        queue=queue,
        panel=panel,
    )
    results_outputs = [results_note, metrics, predictions, shown]
    gr.on([timer.tick, demo.load], show_results, [panel.view, bar.lang, shown], results_outputs, show_progress="hidden")
