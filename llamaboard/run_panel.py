"""The run panel every job tab reuses: live monitor of one job, abort/resume/unqueue, and the job history.

A panel serves some kinds of job (the Train tab's serves ``train``, the
Evaluate tab's ``eval`` and ``predict`` ...): it follows the active job of
those kinds, and its history lists them. Which job a browser session watches
is the only per-session state (a RunView in gr.State, with the session's byte
offset into that job's trainer log); everything shown is read from the run
directories on each timer tick, so a refresh or an app restart reattaches to
a live job by itself.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from llamaboard import launcher
from llamaboard.devices import device_env
from llamaboard.form import Form
from llamaboard.history import HistoryRow, history_rows, history_table
from llamaboard.launcher import Launch
from llamaboard.locales import message
from llamaboard.monitor import error_html, last_error_line, log_html, loss_figure, progress_html
from llamaboard.notices import notice
from llamaboard.paths import Workspace
from llamaboard.run_queue import RunQueue
from llamaboard.trainer_log import TrainerLogReader
from workflows.run_dir import (
    CHECKPOINT_PATTERN,
    RUN_CONFIG_FILE,
    RUNNING_LOG_FILE,
    TRAINER_LOG_FILE,
    find_runs,
    list_checkpoints,
    read_state,
    tail_text,
)

POLL_INTERVAL_S = 2.0
LAST_CHECKPOINT = "last"
RESUMABLE_STATES = ("aborted", "failed")
RESUMABLE_KINDS = ("train",)  # the kinds whose jobs write checkpoint-N folders to continue from


@dataclass
class RunView:
    """What one browser session watches; ``follow`` moves it to a newly started job (queue, Start)."""

    run_dir: Optional[Path] = None
    reader: Optional[TrainerLogReader] = None
    follow: bool = True
    history: list[HistoryRow] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)  # last value sent per output, to skip resending

    def watch(self, run_dir: Path, follow: bool) -> None:
        self.run_dir, self.reader, self.follow, self.shown = run_dir, TrainerLogReader(run_dir / TRAINER_LOG_FILE), follow, {}

    def changed(self, key: str, token: Any) -> bool:
        """True (and remembered) when ``token`` differs from what output ``key`` last showed."""
        if key in self.shown and self.shown[key] == token:
            return False
        self.shown[key] = token
        return True

    def unless_shown(self, key: str, token: Any, value: Any) -> Any:
        """``value`` when it would change what output ``key`` shows, else gr.skip() (nothing resent)."""
        return value if self.changed(key, token) else gr.skip()


@dataclass(frozen=True)
class RunPanel:
    """What a tab chains onto: the session's RunView, the panel's message, and the refresh event (after Start)."""

    view: gr.State
    message: gr.HTML
    refresh: Callable
    refresh_inputs: list
    refresh_outputs: list


def build_run_panel(
    demo: gr.Blocks,
    form: Form,
    workspace: Workspace,
    queue: RunQueue,
    lang: gr.Dropdown,
    devices: gr.Dropdown,
    kinds: tuple[str, ...],
    scope: str,
    notice_box: Optional[gr.HTML] = None,
) -> RunPanel:
    """The panel for jobs of ``kinds``; ``scope`` prefixes its element ids (one panel per tab).

    ``notice_box`` is the tab's message under its Start button: its "Started …" is cleared when the job it
    watches fails, so the page never shows a green "Started" beside a failed job.
    """
    view_state = gr.State(RunView())
    shows_loss = "train" in kinds
    with gr.Group():
        progress = gr.HTML(elem_id=f"{scope}-run_progress")
        error = gr.HTML(elem_id=f"{scope}-run_error")
        with gr.Row():
            chart = form.control("loss_chart", gr.Plot, elem_id=f"{scope}-loss_chart", scale=3, visible=shows_loss)
            log = form.control("running_log", gr.HTML, elem_id=f"{scope}-running_log", show_label=True, container=True, scale=2)
        with gr.Row(equal_height=True):
            abort_button = form.button("abort_button", elem_id=f"{scope}-abort_button", variant="stop", interactive=False)
            resumable = any(kind in RESUMABLE_KINDS for kind in kinds)
            resume_choice = form.control(
                "resume_checkpoint",
                gr.Dropdown,
                elem_id=f"{scope}-resume_checkpoint",
                choices=[LAST_CHECKPOINT],
                value=LAST_CHECKPOINT,
                interactive=True,
                visible=resumable,
            )
            resume_button = form.button("resume_button", elem_id=f"{scope}-resume_button", interactive=False, visible=resumable)
            remove_button = form.button("remove_queued_button", elem_id=f"{scope}-remove_queued_button", interactive=False)
        panel_message = gr.HTML(elem_id=f"{scope}-run_message")
    with form.accordion("history_accordion", elem_id=f"{scope}-history_accordion", open=True):
        table = form.control("history_table", gr.Dataframe, elem_id=f"{scope}-history_table", interactive=False, wrap=True, max_height=320)
        run_config = form.control("run_config", gr.Code, elem_id=f"{scope}-run_config", language="yaml", interactive=False, max_lines=20)
    timer = gr.Timer(POLL_INTERVAL_S)

    outputs = [view_state, progress, error, chart, log, run_config, table, abort_button, resume_button, resume_choice, remove_button]
    outputs += [notice_box] if notice_box is not None else []

    def refresh(view: RunView, lang: str) -> dict:
        queued = queue.queued_kinds()
        view.history = history_rows(find_runs(workspace.saves_dir), queued, workspace.saves_dir, lang, kinds)
        _choose_run(view, view.history)
        history = view.unless_shown("history", (lang, [row.cells for row in view.history]), history_table(view.history, lang))
        if view.run_dir is None:
            empty = f'<div class="lb-progress-text">{message(lang, "no_runs_yet" if shows_loss else "no_jobs_yet")}</div>'
            return {
                view_state: view,
                progress: empty,
                error: "",
                chart: None,
                log: "",
                run_config: "",
                table: history,
                **_buttons(view, None),
            }
        state = read_state(view.run_dir, queued.get(view.run_dir))
        view.reader.poll()
        log_text = tail_text(view.run_dir / RUNNING_LOG_FILE)
        label = str(view.run_dir.relative_to(workspace.saves_dir))
        newly_failed = view.changed("failed", state.state == "failed") and state.state == "failed"
        cleared = {notice_box: ""} if notice_box is not None and newly_failed else {}
        return {
            **cleared,
            view_state: view,
            progress: progress_html(label, state, view.reader.latest, lang),
            error: error_html(last_error_line(state, log_text), lang),
            chart: view.unless_shown("chart", (view.reader.offset, len(view.reader.records), lang), loss_figure(view.reader, lang)),
            log: view.unless_shown("log", log_text, log_html(log_text)),
            run_config: view.unless_shown("config", str(view.run_dir), _config_text(view.run_dir, label)),
            table: history,
            **_buttons(view, state),
        }

    def _buttons(view: RunView, state) -> dict:
        """Abort, Resume (with its checkpoint choices) and Remove enabled only where they apply."""
        steps = [path.name for path in list_checkpoints(view.run_dir)] if view.run_dir else []
        token = (state.state, state.kind, tuple(steps)) if state else None
        if not view.changed("buttons", token):
            return {}
        can_resume = state is not None and state.kind in RESUMABLE_KINDS and state.state in RESUMABLE_STATES and bool(steps)
        return {  # updates, not components: the language switch sends them with these controls' labels
            abort_button: gr.update(interactive=state is not None and state.is_active),
            resume_button: gr.update(interactive=can_resume),
            resume_choice: gr.update(choices=[LAST_CHECKPOINT, *reversed(steps)]),
            remove_button: gr.update(interactive=state is not None and state.state == "queued"),
        }

    def select_run(view: RunView, event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        if 0 <= row < len(view.history):
            view.watch(view.history[row].run_dir, follow=False)
        return view

    def abort(view: RunView, lang: str) -> str:
        if view.run_dir is None or not launcher.abort(view.run_dir):
            return notice(message(lang, "abort_not_running"), "note")
        return notice(message(lang, "abort_sent"))

    def resume(view: RunView, checkpoint: str, selected_devices: list[str], lang: str) -> tuple[RunView, str]:
        if view.run_dir is None:
            return view, notice(message(lang, "no_run_selected"), "note")
        if checkpoint not in (None, LAST_CHECKPOINT) and not CHECKPOINT_PATTERN.match(checkpoint):
            return view, notice(message(lang, "checkpoint_invalid"), "error")
        target = "true" if checkpoint in (None, LAST_CHECKPOINT) else str(view.run_dir / checkpoint)
        outcome = queue.submit(Launch(view.run_dir, (f"resume_from_checkpoint={target}",), device_env(selected_devices)))
        view.watch(view.run_dir, follow=True)
        return view, notice(message(lang, f"run_{outcome}", run=view.run_dir.name))

    def remove(view: RunView, lang: str) -> str:
        removed = view.run_dir is not None and queue.remove(view.run_dir)
        return notice(message(lang, "queue_removed" if removed else "queue_not_queued"))

    timer.tick(refresh, [view_state, lang], outputs, show_progress="hidden")
    table.select(select_run, view_state, view_state).then(refresh, [view_state, lang], outputs, show_progress="hidden")
    abort_button.click(abort, [view_state, lang], panel_message)
    resume_button.click(resume, [view_state, resume_choice, devices, lang], [view_state, panel_message]).then(
        refresh, [view_state, lang], outputs
    )
    remove_button.click(remove, [view_state, lang], panel_message).then(refresh, [view_state, lang], outputs)
    demo.load(refresh, [view_state, lang], outputs, show_progress="hidden")
    form.on_language(refresh, [view_state, lang], outputs)
    return RunPanel(view_state, panel_message, refresh, [view_state, lang], outputs)


def _config_text(run_dir: Path, label: str) -> str:
    """The watched run's run.yaml, headed by a comment naming it (so the box says whose config it is)."""
    return f"# {label}/{RUN_CONFIG_FILE}\n" + tail_text(run_dir / RUN_CONFIG_FILE, 65_536)


def _choose_run(view: RunView, rows: list[HistoryRow]) -> None:
    """Keep the watched job; when following, move to a job that became active (or the newest on first load)."""
    run_dirs = [row.run_dir for row in rows]
    if view.run_dir is not None and view.run_dir not in run_dirs:
        view.run_dir = None
    if view.run_dir is not None and not view.follow:
        return
    active = next((row.run_dir for row in rows if row.state.is_active), None)
    if view.run_dir is None:
        chosen = active or (run_dirs[0] if run_dirs else None)
    elif active is not None and active != view.run_dir and not read_state(view.run_dir).is_active:
        chosen = active
    else:
        return
    if chosen is not None:
        view.watch(chosen, follow=True)
