"""The Chat tab: talk to the top bar's model, or compare it side by side with its base model or another checkpoint.

Load starts the model (with the selected adapters) as an API server
subprocess (``ChatServer``) in the workdir, typed paths confined as in the
Train tab; Unload, closing or reloading the page, or End in the list of model
servers ends that process, which frees all of its memory (``SERVERS`` lists
them by page; see ``chat_server``). The UI only speaks HTTP to it and imports
no torch (nor, until the first message, the openai client). Compare mode
loads a second server, with the base model alone or with another run or
checkpoint of the same model, and answers every prompt with both. Answers
stream to the page in a few updates a second, so Stop stays responsive.
"""

import time
from pathlib import Path

import gradio as gr

from llamaboard.chat_server import RENEW_EVERY_S, SERVERS, ChatServer, ServerEntry, read_in_batches
from llamaboard.controls import NONE_CHOICE
from llamaboard.form import Form
from llamaboard.locales import message
from llamaboard.models import adapter_choices
from llamaboard.notices import notice
from llamaboard.paths import Workspace
from llamaboard.run_builder import confine_paths
from llamaboard.top_bar import TopBar, source_values
from workflows.chat.webchat import message_text
from workflows.config.schema import GenerationArgs
from workflows.errors import UserError

SOURCE_KEYS = ("model_name_or_path", "adapter_name_or_path")
MODEL_KEYS = ("model_name_or_path", "finetuning_type", "adapter_name_or_path", "template", "quantization_bit", "rope_scaling", "flash_attn")
# Sampling controls are per chat, not config fields of the form: loading a training config must not touch them.
GENERATION = GenerationArgs.model_fields
CHAT_MAX_NEW_TOKENS = 256
"""Enough for a chat answer; an untrained model beside it in compare mode rambles until the limit,
which the CLI's 1024 makes slow on a CPU."""


def server_overrides(values: dict) -> list[str]:
    """key=value overrides that serve the top bar's model with its selected adapters or checkpoint (``source_values``):
    the bar's own keys, then the model or adapters its selection sets (a later key=value wins)."""
    chosen = source_values(values)
    bar = {key: value for key, value in values.items() if key not in ("finetuning_type", "adapter_name_or_path")}
    selected = {key: chosen.get(key) for key in SOURCE_KEYS if chosen.get(key) is not None and chosen.get(key) != bar.get(key)}
    return [f"{key}={'null' if value is None else value}" for key, value in [*bar.items(), *selected.items()]]


def compare_choices(lang: str, saves_dir: Path, model: str, finetuning_type: str) -> list[tuple[str, str]]:
    """What compare mode can put beside the chosen model: the base model, or any run or checkpoint of it."""
    return [(message(lang, "compare_base_model"), NONE_CHOICE), *adapter_choices(saves_dir, model or "", finetuning_type)]


def _unload(servers) -> None:
    SERVERS.end_servers(servers)


def _session(request: gr.Request) -> str:
    return request.session_hash or "" if request is not None else ""


SERVER_COLUMNS = ("model", "page", "pid", "memory", "started", "end")


def servers_table(entries: list[ServerEntry], session: str, lang: str) -> dict:
    """The model servers list: one row per running server, its last cell the End button."""
    rows = [
        [
            entry.server.model or "",
            message(lang, f"server_role_{entry.role}")
            + " · "
            + message(lang, "server_this_page" if entry.owner == session else "server_elsewhere"),
            str(entry.server.pid),
            f"{entry.server.memory_bytes() / 2**20:.0f} MiB",
            time.strftime("%H:%M:%S", time.localtime(entry.started)),
            message(lang, "server_end"),
        ]
        for entry in entries
    ]
    headers = [message(lang, f"server_column_{column}") for column in SERVER_COLUMNS]
    return {"headers": headers, "data": rows or [[""] * len(SERVER_COLUMNS)]}


class Conversation:
    """A count of the changes a streaming answer must not write over (a new message, Clear, Undo, Load, Unload).

    An answer stops writing to the page once the count moves: cancelling its
    event is asked for too, but Gradio does not wait for the cancel before
    running the next event.
    """

    def __init__(self) -> None:
        self.changes = 0

    def change(self) -> int:
        self.changes += 1
        return self.changes


def build_chat_tab(demo: gr.Blocks, form: Form, bar: TopBar, workspace: Workspace) -> None:
    servers = gr.State(None, delete_callback=_unload)  # this browser session's (chosen[, compared]) ChatServers, or None
    conversation = gr.State(Conversation)
    with gr.Row(equal_height=True):
        compare = form.control("compare_mode", gr.Checkbox, value=False, scale=2)
        compare_with = form.control(
            "compare_with", gr.Dropdown, choices=[(message(form.lang, "compare_base_model"), NONE_CHOICE)], value=NONE_CHOICE, scale=2
        )
        load = form.button("load_model_button", variant="primary", scale=1)
        unload = form.button("unload_model_button", scale=1)
    status = gr.HTML()
    with gr.Row(equal_height=True):
        system = form.control("system_prompt", gr.Textbox, lines=2, scale=3)
        temperature = form.control(
            "temperature", gr.Slider, minimum=0, maximum=2, step=0.05, value=GENERATION["temperature"].default, scale=1
        )
        top_p = form.control("top_p", gr.Slider, minimum=0.05, maximum=1, step=0.05, value=GENERATION["top_p"].default, scale=1)
        max_new_tokens = form.control("max_new_tokens", gr.Number, minimum=1, precision=0, value=CHAT_MAX_NEW_TOKENS, scale=1)
    with gr.Row():
        chatbot = form.control("chatbot", gr.Chatbot, height=420)
        base_chatbot = form.control("base_chatbot", gr.Chatbot, height=420, visible=False)
    query = form.control("query", gr.Textbox, lines=2)
    with gr.Row():
        send = form.button("send_button", variant="primary")
        undo = form.button("undo_button")
        retry = form.button("retry_button")
        clear = form.button("clear_button")
        stop = form.button("stop_button", variant="stop")
    with form.accordion("model_servers_accordion", open=True):
        servers_list = form.control("model_servers_table", gr.Dataframe, interactive=False, wrap=True, max_height=240)
    shown_servers = gr.State(None)  # (lang, rows) last sent to servers_list, to skip resending
    timer = gr.Timer(RENEW_EVERY_S)

    model_inputs = {*(bar.scope.fields[key] for key in MODEL_KEYS), compare, compare_with, bar.lang, servers, conversation}

    def load_model(data: dict, request: gr.Request):
        lang, session = data[bar.lang], _session(request)
        data[conversation].change()
        _unload(data[servers])
        loaded = []
        values = bar.scope.config_values(data)
        compared = None if data[compare_with] == NONE_CHOICE else data[compare_with]
        selections = [values.get("adapter_name_or_path"), *([compared] if data[compare] else [])]
        SERVERS.start_reaper()
        try:
            for role, selection in zip(("chat", "compare"), selections):
                server = ChatServer(workspace.workdir)
                server.load(server_overrides(confine_paths({**values, "adapter_name_or_path": selection}, workspace)))
                SERVERS.add(server, session, role)
                loaded.append(server)
        except UserError as error:
            _unload(loaded)
            return None, notice(message(lang, "chat_load_failed", error=str(error)), "error"), gr.update(), gr.update()
        labels = {
            value: label
            for label, value in compare_choices(lang, workspace.saves_dir, values["model_name_or_path"], values["finetuning_type"])
        }
        chosen = selections[0] or NONE_CHOICE
        return (
            tuple(loaded),
            notice(message(lang, "chat_loaded", model=loaded[0].model)),
            gr.update(label=labels.get(chosen, chosen)),
            gr.update(visible=bool(data[compare]), label=labels.get(data[compare_with], data[compare_with])),
        )

    def unload_model(current, lang: str, talk: Conversation):
        talk.change()
        _unload(current)
        return None, notice(message(lang, "chat_unloaded"), "note")

    def respond(
        current,
        history,
        base_history,
        text,
        system_prompt,
        temperature,
        top_p,
        max_new_tokens,
        lang,
        talk: Conversation,
        request: gr.Request,
    ):
        import openai

        SERVERS.renew(_session(request))
        if not current or not all(server.loaded for server in current):  # never loaded, or ended from the servers list
            yield {status: notice(message(lang, "chat_not_loaded"), "error")}
            return
        if not text.strip():
            yield {}
            return
        turn = talk.change()  # this answer supersedes any still streaming
        histories = [list(history or []), list(base_history or [])]
        sampling_args = {"temperature": temperature, "top_p": top_p, "max_tokens": int(max_new_tokens) if max_new_tokens else None}
        streams = []
        for server, turns in zip(current, histories):
            past = [{"role": turn["role"], "content": message_text(turn["content"])} for turn in turns]
            streams.append(server.stream([*past, {"role": "user", "content": text}], system=system_prompt or None, **sampling_args))
            turns += [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
        try:
            for batch in read_in_batches(streams):  # compare mode: both answers grow at once
                if talk.changes != turn:
                    return  # the conversation changed under this answer: leave the page alone
                for index, text_added in batch.items():
                    histories[index][-1]["content"] += text_added
                yield {chatbot: histories[0], base_chatbot: histories[1], query: ""}
        except openai.APIError as error:
            yield {
                chatbot: histories[0],
                base_chatbot: histories[1],
                query: "",
                status: notice(message(lang, "chat_error", error=str(error)), "error"),
            }
            return
        yield {chatbot: histories[0], base_chatbot: histories[1], query: ""}

    def undo_turn(history, base_history, talk: Conversation):
        talk.change()
        last_query = next((message_text(turn["content"]) for turn in reversed(history or []) if turn["role"] == "user"), "")
        return (history or [])[:-2], (base_history or [])[:-2], last_query

    def retry_turn(history, base_history, text, talk: Conversation):
        """Take back the last answer and put its question up again; with no answer to retry, send the message box as it is."""
        if history and history[-1]["role"] == "assistant":
            return undo_turn(history, base_history, talk)
        return history, base_history, text

    def clear_conversation(talk: Conversation):
        talk.change()
        return [], [], ""

    def show_servers(lang: str, shown, request: gr.Request):
        """The page is open (its servers' lease renews) and the list shows every server of this UI."""
        session = _session(request)
        SERVERS.renew(session)
        table = servers_table(SERVERS.entries(), session, lang)
        if shown == (lang, table["data"]):
            return gr.skip(), gr.skip()
        return table, (lang, table["data"])

    def end_server(lang: str, current, evt: gr.SelectData, request: gr.Request):
        """A click on a row's End cell ends that server (this page's or another's)."""
        row, column = evt.index
        entries = SERVERS.entries()
        if column != len(SERVER_COLUMNS) - 1 or row >= len(entries):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        model, pid = entries[row].server.model or "", entries[row].server.pid
        if not SERVERS.end(pid):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        kept = current if current and all(server.loaded for server in current) else None
        if kept is None and current:
            _unload(current)  # compare mode without one side is no longer what the page shows: end both
        table = servers_table(SERVERS.entries(), _session(request), lang)
        return kept, notice(message(lang, "server_ended", model=model, pid=pid), "note"), table, (lang, table["data"])

    def page_closed(request: gr.Request) -> None:
        SERVERS.end_owner(_session(request))

    respond_inputs = [servers, chatbot, base_chatbot, query, system, temperature, top_p, max_new_tokens, bar.lang, conversation]
    respond_outputs = [chatbot, base_chatbot, query, status]

    def list_compared(lang: str, model: str, finetuning_type: str, current: str) -> dict:
        choices = compare_choices(lang, workspace.saves_dir, model, finetuning_type)
        return gr.update(choices=choices, value=current if current in {value for _, value in choices} else NONE_CHOICE)

    compared_inputs = [bar.lang, bar.model, bar.finetuning_type, compare_with]
    for trigger in (compare_with.focus, bar.model.change, bar.finetuning_type.change):
        trigger(list_compared, compared_inputs, compare_with, show_progress="hidden")
    form.on_language(list_compared, compared_inputs, [compare_with])
    answering = [
        gr.on([send.click, query.submit], respond, respond_inputs, respond_outputs),
        retry.click(retry_turn, [chatbot, base_chatbot, query, conversation], [chatbot, base_chatbot, query]).then(
            respond, respond_inputs, respond_outputs
        ),
    ]
    # Whatever changes the conversation or the servers also stops the answer being streamed.
    stop.click(None, cancels=answering)
    list_servers = (show_servers, [bar.lang, shown_servers], [servers_list, shown_servers])
    load.click(None, cancels=answering).then(load_model, model_inputs, [servers, status, chatbot, base_chatbot]).then(
        *list_servers, show_progress="hidden"
    )
    unload.click(None, cancels=answering).then(unload_model, [servers, bar.lang, conversation], [servers, status]).then(
        *list_servers, show_progress="hidden"
    )
    undo.click(None, cancels=answering).then(undo_turn, [chatbot, base_chatbot, conversation], [chatbot, base_chatbot, query])
    clear.click(None, cancels=answering).then(clear_conversation, conversation, [chatbot, base_chatbot, status])
    for trigger in (timer.tick, demo.load):
        trigger(*list_servers, show_progress="hidden")
    form.on_language(*list_servers)
    servers_list.select(end_server, [bar.lang, servers], [servers, status, servers_list, shown_servers], show_progress="hidden")
    demo.unload(page_closed)  # a closed or reloaded page ends its servers at once
