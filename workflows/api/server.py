"""`python -m workflows api`: load the model once, then serve it with uvicorn.

Host, port, key and the served model name come from the environment
(API_HOST, API_PORT, API_KEY, API_MODEL_NAME), as in LLaMA-Factory, so the
same YAML serves anywhere. A program that starts the server for itself (the
UI's Chat tab) sets LLAMABOARD_EXIT_WITH_PARENT to its pid: the server then
ends when that process is gone, even if it was killed, so no model is left
holding memory behind a closed UI.
"""

import os
import signal
import threading
import time

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.run_dir import pid_alive


def serve(config: RunConfig) -> int:
    import uvicorn

    from workflows.api.app import create_app
    from workflows.chat import load_engine

    host = os.environ.get("API_HOST", "127.0.0.1")
    raw_port = os.environ.get("API_PORT", "8000")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"API_PORT must be a port number between 1 and 65535, not `{raw_port}`.")
    if os.environ.get("LLAMABOARD_EXIT_WITH_PARENT"):
        _exit_with_parent(int(os.environ["LLAMABOARD_EXIT_WITH_PARENT"]))
    _leave_a_core_to_the_server()
    engine = load_engine(config)
    model_name = os.environ.get("API_MODEL_NAME") or engine.model_name
    app = create_app(engine, model_name, os.environ.get("API_KEY") or None)
    print(f"Serving `{model_name}` at http://{host}:{raw_port}/v1 (OpenAI-compatible)", flush=True)
    uvicorn.run(app, host=host, port=int(raw_port), log_level="warning")
    return 0


def _leave_a_core_to_the_server() -> None:
    """On a CPU-only machine, give torch one thread fewer than it takes by itself (unless OMP_NUM_THREADS says).

    The model then shares the cores with the event loop that parses requests and sends the text: with every core
    in torch's thread pool, each token waits for a core (on 2 cores, time to first token -10% and 20% more tokens/s
    with one torch thread). With a GPU the model does not compute on these threads.
    """
    import torch

    if not torch.cuda.is_available() and "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > 1:
        torch.set_num_threads(torch.get_num_threads() - 1)


def _exit_with_parent(parent_pid: int) -> None:
    """Stop serving, as SIGTERM does, once the process ``parent_pid`` (the UI) has ended.

    Watched by pid rather than as this process's parent: a server the UI's fork server started is the fork server's child.
    """

    def watch() -> None:
        while pid_alive(parent_pid):
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
