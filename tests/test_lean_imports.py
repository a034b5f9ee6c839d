"""A run imports only what it uses: peft only for adapters, bitsandbytes only to quantize, never datasets (real subprocesses)."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


REPORT_AT_EXIT = "import atexit, sys; atexit.register(lambda: print('LOADED', [m for m in {names} if sys.modules.get(m)]))"


def test_full_fine_tuning_never_imports_peft_lora_does_and_neither_imports_bitsandbytes_or_datasets(tiny_model_dir, tmp_path):
    """datasets (with pandas and pyarrow) costs about 0.8 s and 90 MB before the first step; features are numpy arrays."""
    report = REPORT_AT_EXIT.format(names=("datasets", "pandas", "pyarrow"))
    for method in ("full", "lora"):
        run_dir = tmp_path / method
        argv = ["workflows", "train", "examples/tiny_lora_sft.yaml", f"finetuning_type={method}", "max_steps=2", f"output_dir={run_dir}"]
        train = f"sys.argv = {argv}; runpy.run_module('workflows', run_name='__main__', alter_sys=True)"
        result = subprocess.run(
            [sys.executable, "-c", f"import runpy; {report}; {train}"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        loaded = json.loads((run_dir / "provenance.json").read_text())["loaded_optional_packages"]
        assert ("peft" in loaded, "bitsandbytes" in loaded) == (method == "lora", False), (method, loaded)
        assert "LOADED []" in result.stdout, (method, result.stdout[-2000:])


def test_chat_without_adapters_imports_neither_peft_nor_bitsandbytes(tiny_model_dir):
    """Every model server of the Chat tab is such a process: seconds saved at each Load."""
    report = REPORT_AT_EXIT.format(names=("peft", "bitsandbytes"))
    run_chat = "sys.argv = ['workflows', 'chat', 'do_sample=false', 'max_new_tokens=2']; runpy.run_module('workflows', run_name='__main__')"
    command = [sys.executable, "-c", f"import runpy; {report}; {run_chat}"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, input="Hi\nexit\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Assistant: " in result.stdout and "LOADED []" in result.stdout, result.stdout[-2000:]


def test_a_quantized_reference_model_keeps_bitsandbytes_importable(tmp_path):
    """bitsandbytes is hidden only from runs that quantize nothing: here the reference model is quantized, so this
    CPU machine's answer must be the missing GPU, not a bitsandbytes "not installed"."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("on a GPU machine the quantized reference model would load")
    overrides = ["stage=dpo", "dataset=preference_demo", "ref_model=llamaboard-tiny", "ref_model_quantization_bit=4"]
    result = subprocess.run(
        [sys.executable, "-m", "workflows", "train", *overrides, f"output_dir={tmp_path / 'run'}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "`ref_model_quantization_bit: 4` with `quantization_method: bnb` needs a CUDA GPU" in result.stderr


def test_an_installed_scipy_is_not_imported_by_a_training_run(tmp_path):
    """transformers imports scipy (0.4 s, 40 MB) whenever it is installed, for object-detection losses no run computes.

    A stand-in scipy on PYTHONPATH says when it is imported, so this holds with or without a real scipy installed.
    """
    stand_in = tmp_path / "site" / "scipy"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text("import sys\nprint('SCIPY IMPORTED', file=sys.stderr)\n")
    command = [sys.executable, "-m", "workflows", "train", "examples/tiny_lora_sft.yaml", "finetuning_type=full", "max_steps=1"]
    result = subprocess.run(
        [*command, f"output_dir={tmp_path / 'run'}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(stand_in.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "SCIPY IMPORTED" not in result.stderr  # checked first: an import of it also ends the run (it has no scipy.optimize)
    assert result.returncode == 0, result.stderr[-2000:]


COUNT_FULL_COLLECTIONS = (  # a full collection is part of start-up unless the imports are frozen or a step is logged
    "import gc, os; full = []; "
    "gc.callbacks.append(lambda phase, info: phase == 'start' and info['generation'] == 2 "
    "and full.append(gc.get_freeze_count() > 0 or os.path.exists('{log}'))); "
    "atexit.register(lambda: print('GC', gc.isenabled(), gc.get_freeze_count(), full.count(False), len(full)))"
)


@pytest.mark.parametrize("command", ["train", "chat"])
def test_start_up_runs_without_garbage_collections_and_the_work_with_the_collector_on(command, tmp_path):
    """Each full collection during start-up walks every object torch and transformers made (about 0.35 s apiece on
    two cores by the end, six of them before a training run's first step with the collector on): workflows.startup.
    A chat (like the API and the Chat tab's model servers) resumes once its model is loaded."""
    (tmp_path / "run").mkdir()
    if command == "train":
        argv, typed = ["workflows", "train", "examples/tiny_lora_sft.yaml", "max_steps=2", f"output_dir={tmp_path / 'run'}"], None
    else:
        argv, typed = ["workflows", "chat", "do_sample=false", "max_new_tokens=2"], "Hi\nexit\n"
    run = f"sys.argv = {argv}; runpy.run_module('workflows', run_name='__main__', alter_sys=True)"
    count = COUNT_FULL_COLLECTIONS.format(log=tmp_path / "run" / "trainer_log.jsonl")
    result = subprocess.run(
        [sys.executable, "-c", f"import atexit, runpy, sys; {count}; {run}"],
        cwd=PROJECT_ROOT,
        input=typed,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    enabled, frozen, during_start_up, full_collections = result.stdout.split("GC ")[-1].split()
    assert enabled == "True", result.stdout[-500:]  # the work (training, answering) collects as usual
    assert int(frozen) > 100_000, frozen  # what the imports made is in the permanent generation: later collections skip it
    assert during_start_up == "0", result.stdout[-500:]
    # a training run frees the imports' garbage once it has logged a step (one full collection); a chat keeps it
    assert int(full_collections) >= (1 if command == "train" else 0), result.stdout[-500:]


def test_freezing_and_resuming_do_nothing_in_a_process_that_did_not_pause_the_collector():
    """A notebook or the test suite that builds a Trainer in-process keeps its own collector settings."""
    import gc

    from workflows.startup import freeze_imports, resume_collection

    frozen = gc.get_freeze_count()
    freeze_imports()
    resume_collection()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_fork_server_child_does_not_unfreeze_what_the_server_froze():
    """Unfreezing and collecting would write to every page the server's objects share with its children."""
    import gc

    from workflows import startup

    collections = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            collections.append(info)

    gc.freeze()  # as the fork server does once it has preloaded
    gc.callbacks.append(count)
    try:
        startup.pause_collection()  # the forked child's train command
        startup.freeze_imports()
        startup.resume_collection()
        collections.clear()
        startup.collect_start_up_garbage()
        assert collections == [] and gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()


def test_training_restarts_once_with_the_tuned_allocator_unless_the_user_set_one():
    """glibc reads GLIBC_TUNABLES only at start-up: the command must run again, in the same process, with it set."""
    from workflows.allocator import TUNABLES, huge_pages_available

    script = (
        "import os; from workflows.allocator import restart_tuned; restart_tuned(); print(os.getpid(), os.environ.get('GLIBC_TUNABLES'))"
    )
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    pid, tunables = process.communicate(timeout=60)[0].split()
    assert int(pid) == process.pid and tunables == (TUNABLES if huge_pages_available() else "None")
    own = subprocess.run(
        [sys.executable, "-c", script], env={**env, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, capture_output=True, text=True
    )
    assert own.stdout.split()[1] == "glibc.malloc.arena_max=2"


def test_the_allocator_is_left_alone_where_huge_pages_are_off(tmp_path, monkeypatch):
    """A fixed mmap threshold without huge pages costs a page fault per 4 KiB of every tensor (training a third slower)."""
    from workflows import allocator

    setting = tmp_path / "enabled"
    monkeypatch.setattr(allocator, "THP_SETTING", setting)
    setting.write_text("always madvise [never]\n")
    assert "GLIBC_TUNABLES" not in allocator.tuned_environment({"PATH": "/bin"})
    setting.write_text("always [madvise] never\n")
    expected = allocator.TUNABLES if platform.libc_ver()[0] == "glibc" else None
    assert allocator.tuned_environment({"PATH": "/bin"}).get("GLIBC_TUNABLES") == expected


def test_the_ui_imports_gradio_without_its_stub_writer():
    """gradio re-parses each component's source to rewrite its .pyi stub at every import: half of ``import gradio`` here."""
    script = (
        "import llamaboard, gradio as gr, gradio.blocks_events as events\n"
        "from gradio import component_meta\n"
        "from llamaboard.gradio_stubs import write_no_stub\n"
        "print(component_meta.create_or_modify_pyi is write_no_stub, events.create_or_modify_pyi is write_no_stub)\n"
        "print(callable(gr.Button.click), [event.event_name for event in gr.Textbox.EVENTS][:2])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert result.stdout.splitlines() == ["True True", "True ['change', 'input']"], result.stderr[-2000:]
