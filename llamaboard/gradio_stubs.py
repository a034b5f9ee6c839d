"""Gradio without its stub writer: ``import gradio`` in half the time.

For every component class it defines, gradio 6 reads the file the class is in, parses it and
rewrites the class's interface into the ``.pyi`` stub beside it
(``gradio.component_meta.create_or_modify_pyi``). That serves gradio's own developers, whose
stubs ship in the wheel; at run time it only re-reads and re-parses sources: on a 2-core machine
about 2 of the 4 seconds ``import gradio`` takes (and a write into site-packages when a stub
differs). Installed before gradio is imported, ``skip_stub_writer`` makes that function do
nothing as soon as its module has run; classes behave exactly as before.
"""

import importlib.abc
import importlib.util
import sys

STUB_WRITER_MODULE = "gradio.component_meta"


def skip_stub_writer() -> None:
    """Call before gradio is imported; a no-op once it is."""
    if STUB_WRITER_MODULE not in sys.modules and not any(isinstance(finder, _StubWriterRemover) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StubWriterRemover())


def write_no_stub(*_args, **_kwargs) -> None:
    """What gradio calls instead of writing a component's stub."""


class _StubWriterRemover(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` as usual and, once it has run, swaps its stub writer for ``write_no_stub``."""

    def find_spec(self, name, path=None, target=None):
        if name != STUB_WRITER_MODULE:
            return None
        sys.meta_path.remove(self)  # one module, once; and find_spec below must not come back here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module) -> None:
            run_module(module)
            if hasattr(module, "create_or_modify_pyi"):  # a gradio without it has nothing to skip
                module.create_or_modify_pyi = write_no_stub

        spec.loader.exec_module = exec_module
        return spec
