"""`python -m workflows webchat`: a standalone Gradio chat page for one model.

Gradio is imported only when the page starts, so `workflows` stays usable
without it. Bind address, port, share link and login work as for the UI
(``workflows.web_settings``): a page reachable from other machines asks for a
login, since it spends the machine's compute.
"""

from workflows.chat.base import ChatEngine
from workflows.web_settings import announce, announce_login, settings_from_env


def message_text(content) -> str:
    """Gradio hands history content as a string or as a list of parts; the engine wants a string."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in parts)


def serve_webchat(engine: ChatEngine) -> int:
    import gradio as gr

    def respond(message: str, history: list[dict], system: str):
        turns = [{"role": turn["role"], "content": message_text(turn["content"])} for turn in history]
        answer = ""
        stream = engine.stream_chat([*turns, {"role": "user", "content": message}], system=system or None)
        try:
            for piece in stream:
                answer += piece
                yield answer
        finally:
            stream.close()  # Stop or a closed page ends the generation too

    system = gr.Textbox(label="System prompt", lines=2)
    demo = gr.ChatInterface(respond, additional_inputs=[system], api_name="chat", title=f"LlamaBoard chat: {engine.model_name}")
    settings = settings_from_env()
    demo.queue(default_concurrency_limit=1)
    announce_login("LlamaBoard chat", settings)
    _, local_url, share_url = demo.launch(**settings.launch_kwargs())
    announce("LlamaBoard chat", local_url, share_url)
    demo.block_thread()
    return 0
