"""Preview command and Start, as every job tab has them: one implementation, each tab gives its ``prepare``.

``prepare(data) -> PreparedRun`` turns a tab's form into the job's config,
folder and launch (raising a UserError that names the field); Preview shows
exactly the YAML and command Start then writes and runs, and Start submits
the job to the one queue and points the tab's run panel at it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from llamaboard.form import Form
from llamaboard.locales import message
from llamaboard.notices import error_notice, notice
from llamaboard.paths import Workspace
from llamaboard.run_builder import PreparedRun, create_run_dir
from llamaboard.run_panel import RunPanel
from llamaboard.run_queue import RunQueue
from workflows.errors import UserError


@dataclass(frozen=True)
class JobControls:
    preview_button: gr.Button
    start_button: gr.Button
    message: gr.HTML  # what happened (Started …) or what is wrong, under the buttons
    command_row: gr.Row
    command_yaml: gr.Code
    command_line: gr.Code


def build_job_controls(form: Form, prefix: str = "", start_label: str = "start_button") -> JobControls:
    """The buttons, the message line and the (hidden until previewed) YAML + command; element ids start with ``prefix``."""
    with gr.Row(equal_height=True):
        preview_button = form.button("preview_command_button", elem_id=f"{prefix}preview_command_button", scale=1)
        start_button = form.button(start_label, elem_id=f"{prefix}start_button", variant="primary", scale=2)
    form_message = gr.HTML(elem_id=f"{prefix}form_message")
    with gr.Row(visible=False) as command_row:
        command_yaml = form.control(
            "command_yaml", gr.Code, elem_id=f"{prefix}command_yaml", language="yaml", interactive=False, max_lines=24
        )
        command_line = form.control(
            "command_line", gr.Code, elem_id=f"{prefix}command_line", language="shell", interactive=False, wrap_lines=True
        )
    return JobControls(preview_button, start_button, form_message, command_row, command_yaml, command_line)


def wire_job_controls(
    controls: JobControls,
    *,
    inputs: set,
    prepare: Callable[[dict], PreparedRun],
    lang: gr.Dropdown,
    run_name: gr.Textbox,
    next_run_name: Callable[[dict], str],
    workspace: Workspace,
    queue: RunQueue,
    panel: RunPanel,
) -> None:
    """Preview and Start for the form whose components are ``inputs`` (which must hold ``lang`` and ``run_name``)."""

    def preview_command(data: dict) -> dict:
        try:
            run = prepare(data)
        except UserError as error:
            return {controls.message: error_notice(error, data[lang]), controls.command_row: gr.Row(visible=False)}
        return {
            controls.message: "",
            controls.command_row: gr.Row(visible=True),
            controls.command_yaml: f"# {run.run_dir / 'run.yaml'}\n{run.yaml_text}",
            controls.command_line: run.launch.shell_command(workspace.workdir),
        }

    def start(data: dict) -> dict:
        try:
            run = prepare(data)
            create_run_dir(run)
            outcome = queue.submit(run.launch)
        except UserError as error:
            return {controls.message: error_notice(error, data[lang])}
        view = data[panel.view]
        view.watch(run.run_dir, follow=True)
        started = notice(message(data[lang], f"run_{outcome}", run=run.run_dir.name))
        return {controls.message: started, panel.view: view, run_name: next_run_name(data)}

    preview_outputs = [controls.message, controls.command_row, controls.command_yaml, controls.command_line]
    controls.preview_button.click(preview_command, inputs, preview_outputs)
    controls.start_button.click(start, inputs | {panel.view}, [controls.message, panel.view, run_name]).then(
        panel.refresh, panel.refresh_inputs, panel.refresh_outputs, show_progress="hidden"
    )
