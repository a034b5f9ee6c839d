"""LlamaBoard's web UI: a Gradio front end over the ``workflows`` engine.

The UI process stays light: it never imports torch or transformers. It turns
form values into a ``workflows.config.RunConfig``, writes ``run.yaml`` into a
run directory and starts ``python -m workflows train`` as a detached
subprocess; everything it shows about a run is read back from that directory.
"""

import os

from llamaboard.gradio_stubs import skip_stub_writer

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no network calls from a UI that must work offline
skip_stub_writer()  # before gradio is imported: half of its import time
