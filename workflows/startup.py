"""Start-up without the cyclic garbage collector: a process collects nothing until it has imported and built
what it needs, and later collections skip what its imports made.

Importing torch, transformers and peft leaves about 700,000 objects alive (gradio and the UI about 320,000). With
the collector on, each full collection during start-up walks all of them again: six of them before a training
run's first step, each longer than the last (about 0.35 s each at the end, on two CPU cores), and more early in
training as those objects age through the generations. Imports make little cyclic garbage (what they free,
reference counting frees), so the entry points pause the collector; once the heavy imports are done,
``freeze_imports`` moves every object alive into the permanent generation (``gc.freeze``), where collections
never look again (and forked children do not copy the pages they live on); once start-up is over (the training
command when its Trainer exists, ``api``/``chat``/``webchat`` once the model is loaded, the web UI once it serves
its page, the fork server once it has preloaded), ``resume_collection`` collects what was built since and turns
the collector back on.
"""

import gc


class _Pause:
    paused = False


def pause_collection() -> None:
    if gc.isenabled():
        gc.disable()
        _Pause.paused = True


def freeze_imports() -> None:
    """Freeze every object alive now, if the collector is paused: call after the imports, before anything large is built.

    The few hundred objects of cyclic garbage that imports leave are frozen with the rest and never freed (a
    training run's model and data, built later, are not frozen: garbage that holds tensors is collected).
    """
    if _Pause.paused:
        gc.freeze()


def resume_collection() -> None:
    """Collect what start-up left since the freeze and turn collection back on, if ``pause_collection`` turned it
    off (a no-op otherwise: a caller may have its own reasons)."""
    if _Pause.paused:
        _Pause.paused = False
        gc.collect()
        gc.enable()
