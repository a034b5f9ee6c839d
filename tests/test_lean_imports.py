"""A run imports only what it uses: full fine-tuning never loads peft, nothing unquantized loads bitsandbytes (real subprocesses)."""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_full_fine_tuning_never_imports_peft_lora_does_and_neither_imports_bitsandbytes(tiny_model_dir, tmp_path):
    for method in ("full", "lora"):
        run_dir = tmp_path / method
        command = ["examples/tiny_lora_sft.yaml", f"finetuning_type={method}", "max_steps=2", f"output_dir={run_dir}"]
        result = subprocess.run(
            [sys.executable, "-m", "workflows", "train", *command], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        loaded = json.loads((run_dir / "provenance.json").read_text())["loaded_optional_packages"]
        assert ("peft" in loaded, "bitsandbytes" in loaded) == (method == "lora", False), (method, loaded)


def test_chat_without_adapters_imports_neither_peft_nor_bitsandbytes(tiny_model_dir):
    """Every model server of the Chat tab is such a process: seconds saved at each Load."""
    report = "import atexit, sys; atexit.register(lambda: print('LOADED', [m for m in ('peft', 'bitsandbytes') if sys.modules.get(m)]))"
    run_chat = "sys.argv = ['workflows', 'chat', 'do_sample=false', 'max_new_tokens=2']; runpy.run_module('workflows', run_name='__main__')"
    command = [sys.executable, "-c", f"import runpy; {report}; {run_chat}"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, input="Hi\nexit\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Assistant: " in result.stdout and "LOADED []" in result.stdout, result.stdout[-2000:]
