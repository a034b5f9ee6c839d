"""Start the web UI with the settings of the environment, secured when it is reachable.

An exposed UI can start processes and write files, hence the login that
``workflows.web_settings`` requires for a share link or a non-loopback address.
"""

import threading

import gradio as gr

from llamaboard.devices import detect_devices
from llamaboard.launcher import start_fork_server
from llamaboard.paths import Workspace
from llamaboard.run_queue import RunQueue, run_queue_worker
from llamaboard.ui import CSS, build_ui
from workflows.startup import freeze_imports, resume_collection
from workflows.web_settings import announce, announce_login, settings_from_env

GRADIO_MISSING_TRANSLATIONS = gr.I18n(en={"common.complete": "Done"}, **{"zh-CN": {"common.complete": "完成"}})
"""Gradio 6 announces a finished event to screen readers as ``common.complete``, a key its own
translations lack; without these the page reads (and flashes) the raw key after every click."""

FOOTER_LINKS = ["gradio", "settings"]
"""No "Use via API": the page's events are not an API (``keep_events_out_of_api_docs``); ``workflows api`` is."""


def main() -> None:
    settings = settings_from_env()
    workspace = Workspace.from_env()
    demo, _ = build_ui(workspace)
    announce_login("LlamaBoard", settings)
    _, local_url, share_url = demo.launch(**settings.launch_kwargs(), css=CSS, i18n=GRADIO_MISSING_TRANSLATIONS, footer_links=FOOTER_LINKS)
    announce("LlamaBoard", local_url, share_url)
    freeze_imports()  # the collector was paused by the entry point (app.py, python -m llamaboard)
    resume_collection()
    run_queue_worker(RunQueue(workspace.workdir))
    start_fork_server()  # after start-up: its imports would slow the first page
    threading.Thread(target=detect_devices, name="detect-devices", daemon=True).start()  # after start-up, not during it
    demo.block_thread()
