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
    collect_later = False


def pause_collection() -> None:
    if gc.isenabled():
        gc.disable()
        _Pause.paused = True


def freeze_imports() -> None:
    """Freeze every object alive now, if the collector is paused: call after the imports, before anything large is built.

    The cyclic garbage the imports left (about 9,000 small objects and 15 MB for torch, transformers and peft;
    about 1 MB for the UI) is frozen with the rest: a training run frees it once it has logged its first step
    (``collect_start_up_garbage``), servers keep it. A training run's model and data, built later, are not frozen.
    """
    if _Pause.paused:
        _Pause.collect_later = gc.get_freeze_count() == 0  # a fork server's child shares the server's frozen pages: left as they are
        gc.freeze()


def resume_collection() -> None:
    """Collect what start-up left since the freeze and turn collection back on, if ``pause_collection`` turned it
    off (a no-op otherwise: a caller may have its own reasons)."""
    if _Pause.paused:
        _Pause.paused = False
        gc.collect()
        gc.enable()


def collect_start_up_garbage() -> None:
    """Free the garbage ``freeze_imports`` froze (a full collection: about 0.3 s on two cores), then freeze the rest again.

    A training run calls it after its first logged step, so the user does not wait for it before seeing one.
    """
    if _Pause.collect_later:
        _Pause.collect_later = False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
