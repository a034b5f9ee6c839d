"""The Export tab: turn the top bar's model and adapters into a standalone model (`python -m workflows export`).

The source is the top bar: its model with the selected LoRA adapters merged
in order, or (full / freeze) the selected checkpoint itself. The form is this
tab's own scope ("export") over the export keys of the schema; Preview and
Start build the same run.yaml and command, and the job goes through the
shared queue like any other (kind ``export``, folder
``saves/<model>/export/<run name>``, the model in ``<run>/model`` unless
``export_dir`` says otherwise). GPTQ needs a CUDA GPU and the gptqmodel
package: without them its controls are disabled and a note says why.

When the watched job ends, the results are read from its run directory: the
files written (with sizes) and ``export_check.json`` (each comparison, passed
or failed, with its largest difference). **Load in Chat** puts the exported
folder into the top bar (model, no adapters, method ``full``, the tokenizer's
own chat template, which the export wrote); the Chat tab's Load model then
serves it. Nothing here imports torch.
"""

import html
import importlib.util
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from llamaboard.controls import NONE_CHOICE
from llamaboard.devices import detect_devices, device_env
from llamaboard.form import Form
from llamaboard.job_controls import build_job_controls, wire_job_controls
from llamaboard.launcher import Launch
from llamaboard.locales import message
from llamaboard.notices import notice
from llamaboard.paths import Workspace, validate_run_name
from llamaboard.run_builder import PreparedRun, confine_paths, render_yaml
from llamaboard.run_panel import RunView, build_run_panel
from llamaboard.run_queue import RunQueue
from llamaboard.top_bar import TopBar, source_values
from workflows.config import RunConfig
from workflows.config.schema import ADAPTER_TYPES
from workflows.errors import UserError
from workflows.run_dir import EXPORT_CHECK_FILE, STATUS_FILE, job_folder, read_json, read_run_config, read_state

GPTQ_KEYS = ("export_quantization_bit", "export_quantization_dataset", "export_quantization_nsamples", "export_quantization_maxlen")
DEFAULT_MODEL_FOLDER = "model"  # the engine's default export_dir: <run directory>/model
POLL_INTERVAL_S = 2.0
MAX_FILES_SHOWN = 200


def new_run_name() -> str:
    return datetime.now().strftime("export_%Y-%m-%d-%H-%M-%S")


def gptq_unavailable_reason(lang: str, devices: tuple[str, ...]) -> Optional[str]:
    """Why GPTQ cannot run from this UI (no CUDA GPU, or no gptqmodel package), or None when it can."""
    if not any(device.startswith("cuda:") for device in devices):
        return message(lang, "export_gptq_no_gpu")
    if importlib.util.find_spec("gptqmodel") is None:
        return message(lang, "export_gptq_no_package")
    return None


def prepare_export(values: dict[str, Any], run_name: str, devices: list[str], workspace: Workspace) -> PreparedRun:
    """The export job of a form: paths confined, export_dir resolved (default ``<run>/model``), checked as far as
    the engine can without loading the model; raises a UserError with a message for the user."""
    values = confine_paths(values, workspace)
    base = values["model_name_or_path"]
    run_dir = job_folder(workspace.saves_dir, "export", base, values.get("finetuning_type") or "lora", validate_run_name(run_name))
    values = source_values(values)
    typed_dir = (values.get("export_dir") or "").strip()
    export_dir = workspace.confine(typed_dir, "export_dir") if typed_dir else run_dir / DEFAULT_MODEL_FOLDER
    values["export_dir"] = str(export_dir)
    if values.get("export_quantization_dataset"):
        values["export_quantization_dataset"] = str(workspace.confine(values["export_quantization_dataset"], "export_quantization_dataset"))
    config = RunConfig.from_flat_dict({**values, "output_dir": str(run_dir)}, source="the form")
    _check_before_start(config, export_dir)
    return PreparedRun(config, run_dir, render_yaml(config), Launch(run_dir, (), device_env(devices), "export"))


def _check_before_start(config: RunConfig, export_dir: Path) -> None:
    """The engine's own refusals (no adapter for a LoRA export, a full checkpoint given as adapter, a used export_dir ...)
    that need no model loaded; GGUF architecture and GPTQ are checked by the job (they need the model or torch)."""
    from workflows.export.preflight import check_request

    check_request(config.replace(export_gguf=None, export_quantization_bit=None), export_dir)


def export_dir_of(run_dir: Path, workdir: Path) -> Optional[Path]:
    """Where the export job of ``run_dir`` writes its model (from its run.yaml)."""
    typed = read_run_config(run_dir).get("export_dir")
    if not typed:
        return run_dir / DEFAULT_MODEL_FOLDER
    path = Path(typed)
    return path if path.is_absolute() else workdir / path


def written_files(folder: Path) -> list[tuple[str, int]]:
    """(relative name, bytes) of every file in the export folder, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted((str(path.relative_to(folder)), path.stat().st_size) for path in folder.rglob("*") if path.is_file())


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def files_html(folder: Path, files: list[tuple[str, int]], lang: str) -> str:
    total = sum(size for _, size in files)
    head = html.escape(message(lang, "export_files_in", folder=folder, count=len(files), size=human_size(total)))
    rows = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td style='text-align:right'>{human_size(size)}</td></tr>"
        for name, size in files[:MAX_FILES_SHOWN]
    )
    header = f"<tr><th>{html.escape(message(lang, 'column_file'))}</th><th>{html.escape(message(lang, 'column_size'))}</th></tr>"
    return f'<div class="lb-export-files"><p>{head}</p><table class="lb-stats">{header}{rows}</table></div>'


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else html.escape(str(value))


def _details(check: dict) -> str:
    parts = []
    for key in ("tensors", "prompts", "quantization_max_abs_error", "error", "missing", "metadata_mismatches", "unexpected_tensors"):
        value = check.get(key)
        if value not in (None, [], ""):
            parts.append(f"{key}: {_number(value) if not isinstance(value, list) else html.escape(', '.join(map(str, value)))}")
    return "; ".join(parts)


def checks_html(report: dict, lang: str) -> str:
    """The self-check report: overall verdict, then each comparison with its largest difference and where."""
    passed = bool(report.get("passed"))
    verdict = notice(message(lang, "export_check_passed" if passed else "export_check_failed"), "ok" if passed else "error")
    columns = ("check", "result", "max_abs_diff", "tolerance", "where", "details")
    header = "".join(f"<th>{html.escape(message(lang, f'column_{column}'))}</th>" for column in columns)
    rows = []
    for check in report.get("checks", []):
        ok = bool(check.get("passed"))
        verdict_text = html.escape(message(lang, "check_passed" if ok else "check_failed"))
        result = f"<span style='color:{'#16a34a' if ok else '#dc2626'}'>{'✔' if ok else '✘'} {verdict_text}</span>"
        name = html.escape(str(check.get("name", "")))
        description = html.escape(message(lang, f"export_check_{check.get('name')}")) if check.get("name") in KNOWN_CHECKS else ""
        rows.append(
            f"<tr class='lb-check-{'ok' if ok else 'failed'}'><td><b>{name}</b><br><small>{description}</small></td><td>{result}</td>"
            f"<td>{_number(check.get('max_abs_diff'))}</td><td>{_number(check.get('tolerance'))}</td>"
            f"<td>{html.escape(str(check.get('where') or ''))}</td><td><small>{_details(check)}</small></td></tr>"
        )
    return f'{verdict}<table class="lb-stats lb-export-checks"><tr>{header}</tr>{"".join(rows)}</table>'


KNOWN_CHECKS = ("weights", "logits", "chat_template", "gguf")


def results_view(run_dir: Optional[Path], workdir: Path, lang: str) -> tuple[str, str, str, bool]:
    """(note, files, checks, loadable) for the watched export job."""
    if run_dir is None:
        return notice(message(lang, "export_no_results"), "note"), "", "", False
    state = read_state(run_dir)
    folder = export_dir_of(run_dir, workdir)
    report = read_json(run_dir / EXPORT_CHECK_FILE)
    finished = state.state == "finished" and folder is not None and (folder / "config.json").is_file()
    files = written_files(folder) if finished else []
    if finished:
        note = notice(message(lang, "export_results_of", run=run_dir.name), "note")
    elif state.state in ("failed", "aborted"):
        note = notice(message(lang, "export_nothing_written", run=run_dir.name, state=message(lang, "state_" + state.state)), "error")
    else:
        note = notice(message(lang, "export_no_results"), "note")
    return note, files_html(folder, files, lang) if files else "", checks_html(report, lang) if report else "", finished


def _results_token(run_dir: Optional[Path], lang: str) -> tuple:
    if run_dir is None:
        return (None, lang)
    stamps = []
    for path in (run_dir / STATUS_FILE, run_dir / EXPORT_CHECK_FILE, run_dir / DEFAULT_MODEL_FOLDER):
        try:
            stat = path.stat()
            stamps.append((path.name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            pass
    return (str(run_dir), lang, read_state(run_dir).state, tuple(stamps))


def adapter_label(path: str) -> str:
    """A run's name, or ``run/checkpoint-N`` for a checkpoint."""
    parts = Path(path).parts
    return "/".join(parts[-2:]) if parts and parts[-1].startswith("checkpoint-") else (parts[-1] if parts else path)


def chat_model_path(folder: Path, workdir: Path) -> str:
    """The model box text for an export folder: relative to the workdir when inside it (shorter, and confined the same)."""
    return str(folder.relative_to(workdir)) if folder.is_relative_to(workdir) else str(folder)


def build_export_tab(demo: gr.Blocks, form: Form, bar: TopBar, workspace: Workspace, queue: RunQueue) -> None:
    scope = form.scope("export", extends=bar.scope)
    source = gr.HTML(elem_id="export-source")
    with gr.Row(equal_height=True):
        scope.field("export_dir", scale=3, placeholder=message(form.lang, "export_dir_placeholder"))
        scope.field("export_size", scale=1, min_width=140)
        scope.field("export_device", scale=1, min_width=140)
        scope.field("export_legacy_format", scale=1, min_width=140)
    with gr.Row(equal_height=True):
        scope.field("export_gguf", scale=1, min_width=140)
        scope.field("export_hub_model_id", scale=2)
    with form.accordion("export_gptq_accordion", elem_id="export-gptq_accordion", open=False):
        gptq_note = gr.HTML(elem_id="export-gptq_note")
        with gr.Row(equal_height=True):
            gptq_fields = [scope.field(key, min_width=140, interactive=False) for key in GPTQ_KEYS]
    run_name = form.control("export_run_name", gr.Textbox, elem_id="export-run_name", value=new_run_name)
    controls = build_job_controls(form, "export-", "export_start_button")
    panel = build_run_panel(
        demo, form, workspace, queue, bar.lang, bar.devices, kinds=("export",), scope="export", notice_box=controls.message
    )
    with form.accordion("export_results_accordion", elem_id="export-results_accordion", open=True):
        results_note = gr.HTML(elem_id="export-results_note")
        checks = gr.HTML(elem_id="export-checks")
        files = gr.HTML(elem_id="export-files")
        with gr.Row(equal_height=True):
            load_in_chat = form.button("export_load_in_chat_button", elem_id="export-load_in_chat_button", interactive=False, scale=1)
            load_message = gr.HTML(elem_id="export-load_message", container=False)
    shown = gr.State(None)
    timer = gr.Timer(POLL_INTERVAL_S)

    form_inputs = {*scope.fields.values(), run_name, bar.devices, bar.lang}

    def prepare(data: dict) -> PreparedRun:
        return prepare_export(scope.config_values(data), data[run_name], data[bar.devices] or [], workspace)

    def describe_source(lang: str, model: str, finetuning_type: str, adapters: list[str]) -> str:
        names = [adapter_label(path) for path in adapters or []]
        if not adapters:
            key = "export_source_base" if finetuning_type not in ADAPTER_TYPES else "export_source_missing"
            return notice(message(lang, key, model=model or ""), "note" if finetuning_type not in ADAPTER_TYPES else "error")
        if finetuning_type in ADAPTER_TYPES:
            return notice(message(lang, "export_source_lora", model=model or "", adapters=", ".join(names)), "note")
        return notice(message(lang, "export_source_checkpoint", checkpoint=names[-1]), "note")

    def gptq_availability(lang: str) -> dict:
        reason = gptq_unavailable_reason(lang, detect_devices())
        updates = {field: gr.update(interactive=reason is None) for field in gptq_fields}
        text = notice(reason, "note") if reason else notice(message(lang, "export_gptq_available"), "note")
        return {gptq_note: text, **updates}

    def show_results(view: RunView, lang: str, last: Optional[tuple]) -> tuple:
        run_dir = view.run_dir if view else None
        token = _results_token(run_dir, lang)
        if token == last:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), last
        note, listing, report, loadable = results_view(run_dir, workspace.workdir, lang)
        return note, report, listing, gr.Button(interactive=loadable), token

    def load_export_in_chat(view: RunView, lang: str) -> dict:
        run_dir = view.run_dir if view else None
        folder = export_dir_of(run_dir, workspace.workdir) if run_dir else None
        if run_dir is None or read_state(run_dir).state != "finished" or not (folder / "config.json").is_file():
            return {load_message: notice(message(lang, "export_not_loadable"), "error")}
        try:
            path = chat_model_path(workspace.confine(str(folder), "export_dir"), workspace.workdir)
        except UserError as error:
            return {load_message: notice(str(error), "error")}
        return {
            bar.model: path,
            bar.finetuning_type: "full",
            bar.adapters: gr.Dropdown(value=[]),
            bar.template: NONE_CHOICE,
            load_message: notice(message(lang, "export_loaded_in_bar", model=path)),
        }

    source_inputs = [bar.lang, bar.model, bar.finetuning_type, bar.adapters]
    gr.on(
        [demo.load, bar.model.change, bar.finetuning_type.change, bar.adapters.change],
        describe_source,
        source_inputs,
        source,
        show_progress="hidden",
        trigger_mode="always_last",
    )
    form.on_language(describe_source, source_inputs, [source])
    demo.load(gptq_availability, bar.lang, [gptq_note, *gptq_fields], show_progress="hidden")
    form.on_language(gptq_availability, [bar.lang], [gptq_note, *gptq_fields])
    wire_job_controls(
        controls,
        inputs=form_inputs,
        prepare=prepare,
        lang=bar.lang,
        run_name=run_name,
        next_run_name=lambda data: new_run_name(),
        workspace=workspace,
        queue=queue,
        panel=panel,
    )
    results_outputs = [results_note, checks, files, load_in_chat, shown]
    gr.on([timer.tick, demo.load], show_results, [panel.view, bar.lang, shown], results_outputs, show_progress="hidden")
    load_in_chat.click(
        load_export_in_chat, [panel.view, bar.lang], [bar.model, bar.finetuning_type, bar.adapters, bar.template, load_message]
    )
