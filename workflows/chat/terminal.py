"""`python -m workflows chat`: a streaming conversation in the terminal.

Typing `clear` forgets the conversation (a fresh context), `exit` or end of
input quits. A turn the model cannot take (prompt too long) is reported and
dropped, so the conversation can go on.
"""

from workflows.chat.base import ChatEngine
from workflows.errors import UserError

HELP = "Type a message and press Enter. `clear` starts a new conversation, `exit` quits."


def chat_in_terminal(engine: ChatEngine) -> int:
    print(HELP, flush=True)
    history: list[dict] = []
    while True:
        try:
            query = input("\nUser: ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if query == "exit":
            return 0
        if query == "clear":
            history = []
            print("History cleared.", flush=True)
            continue
        if not query:
            continue
        turn = [*history, {"role": "user", "content": query}]
        try:
            stream = engine.stream_chat(turn)
        except UserError as error:
            print(f"error: {error}", flush=True)
            continue
        print("Assistant: ", end="", flush=True)
        answer = ""
        for piece in stream:
            print(piece, end="", flush=True)
            answer += piece
        print(flush=True)
        history = [*turn, {"role": "assistant", "content": answer}]
