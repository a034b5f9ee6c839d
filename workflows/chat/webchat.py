"""`python -m workflows webchat`: a standalone Gradio chat page for one model.

Gradio is imported only when the page starts, so `workflows` stays usable
without it. Bind address, port and share link come from Gradio's own
variables (GRADIO_SERVER_NAME, default 127.0.0.1; GRADIO_SERVER_PORT;
GRADIO_SHARE). The page can only chat, so it asks for a login only when
LLAMABOARD_AUTH=user:password is set.
"""

import os

from workflows.chat.base import ChatEngine


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
        for piece in engine.stream_chat([*turns, {"role": "user", "content": message}], system=system or None):
            answer += piece
            yield answer

    system = gr.Textbox(label="System prompt", lines=2)
    demo = gr.ChatInterface(respond, additional_inputs=[system], api_name="chat", title=f"LlamaBoard chat: {engine.model_name}")
    user, sep, password = os.environ.get("LLAMABOARD_AUTH", "").partition(":")
    demo.queue(default_concurrency_limit=1).launch(auth=(user, password) if sep else None, show_error=True)
    return 0
