"""Start-up without the cyclic garbage collector: a process collects nothing until it has imported and built
what it needs, then collects once and freezes what survived.

Importing torch, transformers and peft leaves about 700,000 objects alive (gradio and the UI about 320,000). With
the collector on, each full collection during start-up walks all of them again: six of them before a training
run's first step, each longer than the last (about 0.35 s each at the end, on two CPU cores), and a few more
early in training as those objects age through the generations. Start-up makes little cyclic garbage (what it
frees, reference counting frees), so the entry points pause the collector, and resume it once start-up is
over (the training command when its Trainer exists, the web UI once it serves its page, the fork server once
it has preloaded) with a single full collection, after which ``gc.freeze`` moves every survivor into the
permanent generation: later collections skip them, and forked children do not copy the pages they live on.
"""

import gc


class _Pause:
    paused = False


def pause_collection() -> None:
    if gc.isenabled():
        gc.disable()
        _Pause.paused = True


def resume_collection() -> None:
    """Collect start-up's garbage once, freeze the survivors and turn collection back on, if ``pause_collection``
    turned it off (a no-op otherwise: a caller may have its own reasons)."""
    if _Pause.paused:
        _Pause.paused = False
        gc.collect()
        gc.freeze()
        gc.enable()
