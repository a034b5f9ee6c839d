"""LlamaBoard's engine: configs, data, templates, models, training and the CLI.

This package never imports gradio or the UI (``llamaboard``); everything the
UI does goes through the ``python -m workflows`` commands.
"""

__version__ = "0.1.0"
