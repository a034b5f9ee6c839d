"""`python -m workflows api`: load the model once, then serve it with uvicorn.

Host, port, key and the served model name come from the environment
(API_HOST, API_PORT, API_KEY, API_MODEL_NAME), as in LLaMA-Factory, so the
same YAML serves anywhere.
"""

import os

from workflows.config import RunConfig
from workflows.errors import ConfigError


def serve(config: RunConfig) -> int:
    import uvicorn

    from workflows.api.app import create_app
    from workflows.chat import load_engine

    host = os.environ.get("API_HOST", "127.0.0.1")
    raw_port = os.environ.get("API_PORT", "8000")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"API_PORT must be a port number between 1 and 65535, not `{raw_port}`.")
    engine = load_engine(config)
    model_name = os.environ.get("API_MODEL_NAME") or engine.model_name
    app = create_app(engine, model_name, os.environ.get("API_KEY") or None)
    print(f"Serving `{model_name}` at http://{host}:{raw_port}/v1 (OpenAI-compatible)", flush=True)
    uvicorn.run(app, host=host, port=int(raw_port), log_level="warning")
    return 0
