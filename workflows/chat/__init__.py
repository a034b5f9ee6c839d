"""Inference: one ChatEngine interface over backends, plus the terminal chat and batch predict commands.

``load_engine(config)`` returns the engine that ``infer_backend`` names;
everything else (API server, CLI, predict) talks only to ``ChatEngine``.
"""

from workflows.chat.backends import load_engine
from workflows.chat.base import ChatEngine, Response, TextStream

__all__ = ["ChatEngine", "Response", "TextStream", "load_engine"]
