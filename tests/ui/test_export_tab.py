"""The Export tab in a real browser: a LoRA run of the tiny model (trained with the CLI into the app's saves/) is
picked in the top bar, exported from the tab with a GGUF beside it, its files and self-check shown, then
loaded in the Chat tab through "Load in Chat", which answers."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_helpers import choose, open_page, type_into, wait_for
from conftest import PROJECT_ROOT, screenshot

pytestmark = pytest.mark.timeout(480)

RUN = "for_export"
EXPORT = "browser_export"


@pytest.fixture(scope="module")
def lora_run(app_server) -> Path:
    """A 4-step LoRA run of the tiny model in the app's saves/, as the Train tab would have left it."""
    output_dir = app_server.workdir / "saves" / "llamaboard-tiny" / "lora" / RUN
    result = subprocess.run(
        [sys.executable, "-m", "workflows", "train", str(PROJECT_ROOT / "examples" / "tiny_lora_sft.yaml"), "max_steps=4", "save_steps=4",
         "max_samples=16", "logging_steps=1", "plot_loss=false", f"output_dir={output_dir}"],
        cwd=app_server.workdir, capture_output=True, text=True, timeout=300, env={**os.environ, "LLAMABOARD_LOG_TO_STDOUT_ONLY": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output_dir


def test_the_source_is_the_top_bar_and_bad_folders_are_refused_before_start(tmp_path):
    from llamaboard.export_tab import prepare_export, source_values
    from llamaboard.paths import Workspace
    from workflows.errors import UserError

    lora = {"model_name_or_path": "llamaboard-tiny", "finetuning_type": "lora", "adapter_name_or_path": "runs/a,runs/b"}
    assert source_values(lora) == lora  # adapters are merged into the model, in order
    oft = {**lora, "finetuning_type": "oft", "adapter_name_or_path": "runs/oft"}
    assert source_values(oft) == oft  # an OFT adapter too
    full = {**lora, "finetuning_type": "full", "adapter_name_or_path": "saves/x/full/run/checkpoint-5"}
    assert source_values(full) == {**full, "model_name_or_path": "saves/x/full/run/checkpoint-5", "adapter_name_or_path": None}

    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    base = {"model_name_or_path": "llamaboard-tiny", "finetuning_type": "full", "export_size": "0.5"}
    run = prepare_export(base, "mine", [], workspace)
    assert run.run_dir == tmp_path / "saves" / "llamaboard-tiny" / "export" / "mine" and run.launch.kind == "export"
    assert re.search(rf"^export_dir: {re.escape(str(run.run_dir / 'model'))}$", run.yaml_text, re.M)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    for values, error in (
        ({**base, "finetuning_type": "lora"}, "Nothing to merge"),
        ({**base, "export_dir": "/etc/out"}, "outside the allowed folders"),
        ({**base, "export_dir": "used"}, "not empty"),
    ):
        with pytest.raises(UserError, match=error):
            prepare_export(values, "mine", [], workspace)


def code_text(page, component_id: str) -> str:
    """The whole text of a gr.Code (CodeMirror draws only the lines in view, so read its document)."""
    code = page.locator(f"#{component_id} .cm-content")
    code.wait_for()
    return code.evaluate(
        "(el) => { const tile = el.cmView || el.cmTile; const view = tile && (tile.rootView || tile).view; "
        "return view ? view.state.doc.toString() : el.innerText; }"
    )


def _answer(page) -> str:
    bubbles = page.locator("#chatbot .bot")
    return bubbles.last.inner_text().strip() if bubbles.count() else ""


def test_export_a_lora_run_see_its_files_and_check_then_chat_with_it(app_server, page, lora_run):
    open_page(page, app_server.url)
    choose(page, "top-field-finetuning_type", "lora")  # the form opens on the identity demo, a full fine-tuning
    choose(page, "top-field-adapter_name_or_path", RUN)
    page.get_by_role("tab", name="Export").click()
    page.locator("#export-source").get_by_text(RUN).wait_for()

    # GPTQ is disabled on a machine without a CUDA GPU, with the reason beside it
    page.locator("#export-gptq_accordion").get_by_text("GPTQ").first.click()
    note = page.locator("#export-gptq_note")
    note.get_by_text("GPTQ").wait_for()
    if "cuda:" not in page.locator("#devices").inner_text():
        assert "needs a CUDA GPU" in note.inner_text()
        assert page.locator("#export-field-export_quantization_bit input").is_disabled()

    # a folder outside the sandbox is refused before anything starts
    type_into(page, "export-field-export_dir", "/etc/llamaboard-export")
    page.click("#export-preview_command_button")
    page.locator("#export-form_message").get_by_text("outside the allowed folders").wait_for()
    type_into(page, "export-field-export_dir", "")

    type_into(page, "export-field-export_size", "0.002")  # 2 MB shards: the tiny model spreads over several
    choose(page, "export-field-export_gguf", "q8_0")
    type_into(page, "export-run_name", EXPORT)
    page.click("#export-preview_command_button")
    text = code_text(page, "export-command_yaml")
    run_dir = app_server.workdir / "saves" / "llamaboard-tiny" / "export" / EXPORT
    assert re.search(rf"^adapter_name_or_path: {re.escape(str(lora_run))}$", text, re.M), text
    assert re.search(rf"^export_dir: {re.escape(str(run_dir / 'model'))}$", text, re.M)
    assert re.search(r"^export_size: 0\.002$", text, re.M) and re.search(r"^export_gguf: q8_0$", text, re.M)
    assert f" export {run_dir / 'run.yaml'}" in code_text(page, "export-command_line")
    screenshot(page, "export_tab_preview")

    page.click("#export-start_button")
    page.locator("#export-form_message").get_by_text(EXPORT).wait_for()
    page.locator("#export-run_progress").get_by_text("finished").wait_for(timeout=240_000)
    checks = page.locator("#export-checks")
    checks.get_by_text("Self-check passed").wait_for(timeout=20_000)
    for name in ("weights", "logits", "chat_template", "gguf"):
        assert checks.get_by_text(name, exact=True).is_visible(), name
    files = page.locator("#export-files")
    for name in ("model.safetensors.index.json", "config.json", "tokenizer_config.json", "README.md", "Modelfile", "q8_0.gguf"):
        assert name in files.inner_text(), name
    assert "kind" not in page.locator("#export-run_error").inner_text()
    screenshot(page, "export_tab_finished")

    report = json.loads((run_dir / "export_check.json").read_text())
    assert report["passed"]
    shards = sorted((run_dir / "model").glob("model-*.safetensors"))
    assert len(shards) > 1 and all(shard.name in files.inner_text() for shard in shards)

    page.click("#export-load_in_chat_button")
    page.locator("#export-load_message").get_by_text("Load model").wait_for()
    exported = f"saves/llamaboard-tiny/export/{EXPORT}/model"
    wait_for(lambda: page.locator("#top-field-model_name_or_path input").input_value() == exported, 10, "the model box to show the export")
    assert page.locator("#top-field-finetuning_type input").input_value() == "full"
    assert RUN not in page.locator("#top-field-adapter_name_or_path").inner_text()

    page.get_by_role("tab", name="Chat").click()
    type_into(page, "max_new_tokens", "8")
    type_into(page, "temperature", "0")
    page.locator("#temperature input").first.press("Tab")
    page.click("#load_model_button")
    wait_for(lambda: "is loaded" in page.locator("#chat_tab").inner_text(), 180, "the export to load")
    type_into(page, "query", "Who are you?")
    page.click("#send_button")
    wait_for(lambda: _answer(page), 60, "an answer from the exported model")
    screenshot(page, "export_loaded_in_chat")
    page.click("#unload_model_button")
    wait_for(lambda: "unloaded" in page.locator("#chat_tab").inner_text(), 60, "the unload notice")
