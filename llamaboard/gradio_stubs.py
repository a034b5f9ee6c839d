"""Gradio without its stub writer: ``import gradio`` in half the time.

For every component class it defines, gradio 6 reads the file the class is in, parses it and
rewrites the class's interface into the ``.pyi`` stub beside it
(``gradio.component_meta.create_or_modify_pyi``). That serves gradio's own developers, whose
stubs ship in the wheel; at run time it only re-reads and re-parses sources: on a 2-core machine
about 2 of the 4 seconds ``import gradio`` takes (and a write into site-packages when a stub
differs). Installed before gradio is imported, ``skip_stub_writer`` makes that function do
nothing as soon as its module has run; classes behave exactly as before.
"""

from types import ModuleType

from workflows.import_hooks import run_after_import

STUB_WRITER_MODULE = "gradio.component_meta"


def skip_stub_writer() -> None:
    """Call before gradio is imported; a no-op once it is."""
    run_after_import(STUB_WRITER_MODULE, _remove_stub_writer)


def write_no_stub(*_args, **_kwargs) -> None:
    """What gradio calls instead of writing a component's stub."""


def _remove_stub_writer(component_meta: ModuleType) -> None:
    if hasattr(component_meta, "create_or_modify_pyi"):  # a gradio without it has nothing to skip
        component_meta.create_or_modify_pyi = write_no_stub
