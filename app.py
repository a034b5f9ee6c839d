"""`python app.py` starts the LlamaBoard web UI (settings from the environment; see the README)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from a UI that must work offline

from llamaboard.launch import main  # noqa: E402

if __name__ == "__main__":
    main()
