"""Compose the app: top bar, tabs, and the language switch that relabels every registered component.

New tabs (chat, evaluate, export) plug in beside ``build_train_tab``: each
declares its controls through the shared Form, so the language switch and
config loading reach them without further wiring (what else follows the
language, a tab hands to ``Form.on_language``).
"""

import gradio as gr

from llamaboard.chat_tab import build_chat_tab
from llamaboard.evaluate_tab import build_evaluate_tab
from llamaboard.export_tab import build_export_tab
from llamaboard.form import Form
from llamaboard.paths import Workspace
from llamaboard.persistence import persist_form
from llamaboard.run_queue import RunQueue
from llamaboard.top_bar import build_top_bar, device_choices
from llamaboard.train_tab import build_train_tab

CSS = """
.lb-badge { color: #fff; border-radius: 999px; padding: 2px 10px; font-size: 0.85em; font-weight: 600; }
.lb-run-title { margin: 4px 0 6px; }
.lb-progress { height: 10px; background: #e5e7eb; border-radius: 5px; overflow: hidden; }
.lb-progress-bar { height: 100%; transition: width 0.5s; }
.lb-progress-text { margin-top: 4px; font-variant-numeric: tabular-nums; }
.lb-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d; padding: 8px 12px; border-radius: 4px; }
.lb-ok { border-left: 4px solid #16a34a; background: #f0fdf4; color: #14532d; padding: 8px 12px; border-radius: 4px; }
.lb-note { border-left: 4px solid #6b7280; background: #f9fafb; padding: 8px 12px; border-radius: 4px; }
.lb-example pre { white-space: pre-wrap; word-break: break-word; }
.lb-example-head { font-weight: 600; margin-top: 8px; }
.lb-trained { background: #dcfce7; }
.lb-masked { color: #6b7280; }
.lb-log { height: 300px; overflow-y: auto; display: flex; flex-direction: column-reverse; }
.lb-log pre { white-space: pre-wrap; word-break: break-word; font-size: 0.8em; margin: 0; }
.lb-stats th { text-align: left; padding-right: 12px; }
#model_servers_table [data-col="5"], #model_servers_table [data-col="5"] * { color: #dc2626; font-weight: 600; cursor: pointer; }
[id$="history_table"] th, [id$="history_table"] th * { word-break: keep-all; overflow-wrap: normal; }
#eval-predictions th, #eval-predictions th *, #eval-metrics th, #eval-metrics th * { word-break: keep-all; overflow-wrap: normal; }
"""


def build_ui(workspace: Workspace, lang: str = "en") -> tuple[gr.Blocks, Form]:
    """The app and the Form registering its labelled components (tests inspect the latter)."""
    form = Form(lang)
    queue = RunQueue(workspace.workdir)
    with gr.Blocks(title="LlamaBoard") as demo:
        title = form.heading("title")
        bar = build_top_bar(form, workspace)
        with gr.Tabs():
            with form.tab("train_tab"):
                build_train_tab(demo, form, bar, workspace, queue)
            with form.tab("evaluate_tab"):
                build_evaluate_tab(demo, form, bar, workspace, queue)
            with form.tab("chat_tab"):
                build_chat_tab(demo, form, bar, workspace)
            with form.tab("export_tab"):
                build_export_tab(demo, form, bar, workspace, queue)
        form.wire_language_switch(bar.lang)
        demo.load(device_choices, None, bar.devices, show_progress="hidden")
        persist_form(demo, form, bar, workspace)  # the form, language and selections, per browser
    track_quiet_events_on(demo, title)
    keep_events_out_of_api_docs(demo)
    return demo, form


def keep_events_out_of_api_docs(demo: gr.Blocks) -> None:
    """The page's events are its own wiring, not an API for other programs (that is ``python -m workflows api``).

    Gradio writes the docs of every public event into each page it serves: about 650 KB for our ~90 events,
    built twice before the first page. Undocumented, they are left out of the docs and stay callable by the page.
    """
    for event in demo.fns.values():
        if event.api_visibility == "public":
            event.api_visibility = "undocumented"


def track_quiet_events_on(demo: gr.Blocks, anchor: gr.components.Component) -> None:
    """Events that show no progress (and those of page loads and timers, which need none) track their status on ``anchor``.

    At every status message of every event, Gradio's front end refreshes the loading status of each component
    that any event has tracked so far (by default, all its outputs). A page load runs about fifty events and the
    language switch relabels every component, so that bookkeeping grew to hundreds of components and took most
    of the seconds a reload or a language switch cost in the browser. Only the events that show progress need it.
    """
    for event in demo.fns.values():
        if all(trigger in ("load", "tick") for _, trigger in event.targets):
            event.show_progress = "hidden"
        if event.show_progress == "hidden":
            event.show_progress_on = [anchor]
