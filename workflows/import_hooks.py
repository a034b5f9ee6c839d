"""Patch a library from inside its own import: run a function on one of its modules as soon as that module has run.

Some of what we change in a library (``llamaboard.gradio_stubs``, ``workflows.models_index``) is used while the
library's own ``__init__`` is still importing, before any code outside it could patch the module. A finder
installed in front of ``sys.meta_path`` finds that module as usual, runs it, then hands it to the function,
before the import that asked for it goes on.
"""

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType


def run_after_import(name: str, then: Callable[[ModuleType], None]) -> None:
    """Call ``then(module)`` right after module ``name`` is first executed; a no-op once it is imported or already hooked."""
    if name not in sys.modules and not any(isinstance(finder, _AfterImport) and finder.name == name for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, then))


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, then: Callable[[ModuleType], None]):
        self.name, self.then = name, then

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)  # once; and find_spec below must not come back here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            self.then(module)

        spec.loader.exec_module = exec_module
        return spec
