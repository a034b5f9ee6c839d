"""`python -m workflows export` on a LoRA run of the built-in tiny model: real training, real files, no mocks.

One short LoRA run (3 steps) and one export (sharded, with a q8_0 GGUF) are shared by the module; the
exported folder is read with plain transformers, peft, safetensors and gguf, never with project code.
A few more exports run in-process (no interpreter start-up) where a test needs its own.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARD_GB = 0.001  # 1 MB shards: the tiny model (~5 MB in float32) spreads over several


def workflows(*args: str, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLAMABOARD_LOG_TO_STDOUT_ONLY": "1"}
    return subprocess.run([sys.executable, "-m", "workflows", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_model_dir) -> Path:
    folder = tmp_path_factory.mktemp("export")
    shutil.copytree(PROJECT_ROOT / "data", folder / "data")
    return folder


@pytest.fixture(scope="module")
def lora_run(workdir) -> Path:
    result = workflows(
        "train", str(PROJECT_ROOT / "examples" / "tiny_lora_sft.yaml"), "max_steps=3", "max_samples=16", "output_dir=runs/lora",
        "save_steps=100", "plot_loss=false", "logging_steps=1", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "runs" / "lora"


@pytest.fixture(scope="module")
def exported(workdir, lora_run) -> Path:
    result = workflows(
        "export", f"adapter_name_or_path={lora_run}", "output_dir=runs/export", f"export_size={SHARD_GB}", "export_gguf=q8_0", cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "runs" / "export"


def export_in_process(monkeypatch, *args: str) -> int:
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")  # keep pytest's own stdout capture intact
    from workflows.cli import main

    return main(["export", *args])


def base_plus_adapter(tiny_model_dir: Path, adapter: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter).eval()


def test_the_job_writes_its_run_directory_and_a_passing_check(exported):
    status = json.loads((exported / "status.json").read_text())
    assert status["kind"] == "export" and status["state"] == "finished" and status["exit_code"] == 0
    check = json.loads((exported / "export_check.json").read_text())
    assert check["passed"] and {c["name"] for c in check["checks"]} == {"weights", "logits", "chat_template", "gguf"}
    rows = [json.loads(line) for line in (exported / "trainer_log.jsonl").read_text().splitlines()]
    assert rows[-1]["current_steps"] == rows[-1]["total_steps"] and rows[-1]["percentage"] == 100.0
    assert not [path for path in exported.iterdir() if ".partial-" in path.name]


def test_merged_model_loads_with_plain_transformers_and_equals_base_plus_adapter(exported, lora_run, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = exported / "model"
    merged = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    reference = base_plus_adapter(tiny_model_dir, lora_run)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Who are you?"}], add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if not isinstance(ids, torch.Tensor) else ids
    with torch.no_grad():
        difference = (merged(ids).logits - reference(ids).logits).abs().max().item()
    assert difference < 1e-5
    assert (model_dir / "generation_config.json").is_file() and (model_dir / "config.json").is_file()
    card = (model_dir / "README.md").read_text()
    assert "llamaboard-tiny" in card and "learning_rate" in card and "sha256" in card and "workflows export" in card
    assert '"train_loss"' in card  # the run's final loss, from its all_results.json


def test_shards_honour_export_size(exported):
    from safetensors import safe_open

    model_dir = exported / "model"
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1
    for shard in shards:
        with safe_open(model_dir / shard, framework="pt") as handle:
            tensors = list(handle.keys())
            size = sum(handle.get_tensor(name).numel() * 4 for name in tensors)
        assert size <= SHARD_GB * 1e9 or len(tensors) == 1, f"{shard}: {size} bytes in {len(tensors)} tensors"


def test_chat_template_round_trips(exported, tiny_model_dir):
    from transformers import AutoTokenizer

    from workflows.templates import get_template

    written = AutoTokenizer.from_pretrained(exported / "model")
    template = get_template(None, AutoTokenizer.from_pretrained(tiny_model_dir))
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert written.apply_chat_template(conversation, tokenize=False) == template.render(conversation)
    assert json.loads((exported / "model" / "tokenizer_config.json").read_text())["chat_template"]


def test_gguf_q8_0_reads_back_with_the_right_tensors_and_metadata(exported, tiny_model_dir):
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    config, tokenizer = AutoConfig.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(exported / "model")
    reader = gguf.GGUFReader(exported / "model" / "model-q8_0.gguf")
    value = lambda key: reader.get_field(key).contents()  # noqa: E731
    assert value("general.architecture") == "qwen2"
    assert value("qwen2.context_length") == config.max_position_embeddings
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert value("tokenizer.ggml.padding_token_id") == tokenizer.pad_token_id
    assert len(value("tokenizer.ggml.tokens")) == config.vocab_size
    names = {tensor.name: tensor for tensor in reader.tensors}
    assert len(names) == 2 + 12 * config.num_hidden_layers  # token_embd, output_norm; tied output not repeated
    assert names["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0
    assert names["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert list(names["token_embd.weight"].shape) == [config.hidden_size, config.vocab_size]
    modelfile = (exported / "model" / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model-q8_0.gguf") and 'PARAMETER stop "<|im_end|>"' in modelfile


def test_gguf_f16_tensors_equal_the_merged_weights_within_f16_rounding(workdir, exported):
    import gguf
    from safetensors.torch import load_file

    result = workflows(
        "export", f"model_name_or_path={exported / 'model'}", "finetuning_type=full", "output_dir=runs/f16", "export_gguf=f16", cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    weights = {}
    for shard in (exported / "model").glob("*.safetensors"):
        weights.update(load_file(shard))
    reader = gguf.GGUFReader(workdir / "runs" / "f16" / "model" / "model-f16.gguf")
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    for hf_name, gguf_name in (
        ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
        ("model.embed_tokens.weight", "token_embd.weight"),
    ):
        stored = np.asarray(tensors[gguf_name].data).reshape(weights[hf_name].shape)
        assert tensors[gguf_name].tensor_type == gguf.GGMLQuantizationType.F16
        assert np.array_equal(stored, weights[hf_name].numpy().astype(np.float16))


def llama_cpp_permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp's ``convert_hf_to_gguf.py: LlamaModel.permute``, written out again: q/k rows in llama.cpp's RoPE order."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def test_a_llama_model_becomes_a_llama_gguf_with_llama_cpps_rope_layout(tiny_model_dir, tmp_path, monkeypatch):
    """A small random Llama (grouped-query attention, untied output) with the tiny model's tokenizer, exported as f16."""
    import gguf
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False, eos_token_id=2,
                         pad_token_id=0, bos_token_id=None)  # fmt: skip
    model, model_dir = LlamaForCausalLM(config), tmp_path / "tiny-llama"
    model.save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_model_dir / name, model_dir / name)
    job = tmp_path / "job"
    code = export_in_process(monkeypatch, f"model_name_or_path={model_dir}", "finetuning_type=full", "export_gguf=f16", f"output_dir={job}")
    assert code == 0 and json.loads((job / "export_check.json").read_text())["passed"]

    reader = gguf.GGUFReader(job / "model" / "model-f16.gguf")
    assert reader.get_field("general.architecture").contents() == "llama"
    assert reader.get_field("llama.context_length").contents() == 512
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    assert len(tensors) == 3 + 9 * 2  # token_embd, output_norm, output (untied), then nine per block
    weights = model.state_dict()
    for hf_name, gguf_name, heads in (("q_proj", "attn_q", 4), ("k_proj", "attn_k", 2), ("v_proj", "attn_v", None)):
        hf = weights[f"model.layers.1.self_attn.{hf_name}.weight"].numpy()
        expected = llama_cpp_permute(hf, 4, heads) if heads else hf  # v is not rotated, so not permuted
        assert np.array_equal(np.asarray(tensors[f"blk.1.{gguf_name}.weight"].data).reshape(hf.shape), expected.astype(np.float16))


def test_the_check_catches_a_corrupted_shard(exported, lora_run, tmp_path):
    from workflows.config import load_config
    from workflows.export import check
    from workflows.export.source import load_source

    corrupted = tmp_path / "model"
    shutil.copytree(exported / "model", corrupted)
    shard = sorted(corrupted.glob("model-*.safetensors"))[1]
    data = bytearray(shard.read_bytes())
    for offset in range(len(data) - 4000, len(data) - 3000):
        data[offset] ^= 0xFF
    shard.write_bytes(bytes(data))
    source = load_source(load_config(None, {"adapter_name_or_path": str(lora_run)}), "cpu")
    state_dict = {name: tensor.detach() for name, tensor in source.model.state_dict().items()}
    report = check.CheckReport()
    check.check_weights(report, corrupted, state_dict)
    check.check_logits(report, corrupted, source.prompt_ids, source.reference_logits, "float32")
    assert not report.passed
    assert shard.name in report.worst_failure()
    clean = check.CheckReport()
    check.check_weights(clean, exported / "model", state_dict)
    assert clean.passed


def test_several_adapters_are_merged_in_order_under_the_template_the_last_run_recorded(lora_run, tiny_model_dir, tmp_path, monkeypatch):
    """The LoRA run, then a copy of it whose run.yaml records `template: vicuna`: both deltas end up in the weights,
    and the written tokenizer renders the last adapter's template (not the tokenizer's own ChatML)."""
    import yaml
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workflows.templates import get_template

    second = tmp_path / "second"
    shutil.copytree(lora_run, second)
    recorded = yaml.safe_load((second / "run.yaml").read_text())
    (second / "run.yaml").write_text(yaml.safe_dump({**recorded, "template": "vicuna"}))
    export_dir = tmp_path / "merged"
    adapters = f"adapter_name_or_path={lora_run},{second}"
    assert export_in_process(monkeypatch, adapters, f"export_dir={export_dir}", f"output_dir={tmp_path / 'job'}") == 0

    first_merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora_run).merge_and_unload()
    reference = PeftModel.from_pretrained(first_merged, second).eval()
    models = (AutoModelForCausalLM.from_pretrained(export_dir).eval(), reference, base_plus_adapter(tiny_model_dir, lora_run))
    with torch.no_grad():
        merged, expected, once = (model(torch.tensor([[5, 17, 42, 99, 7, 300, 12, 8]])).logits for model in models)
    assert (merged - expected).abs().max().item() < 1e-5
    assert (merged - once).abs().max().item() > 1e-4, "the second adapter was not merged"

    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    vicuna = get_template("vicuna", AutoTokenizer.from_pretrained(tiny_model_dir))
    assert AutoTokenizer.from_pretrained(export_dir).apply_chat_template(conversation, tokenize=False) == vicuna.render(conversation)
    assert "2 LoRA adapter(s) merged in order" in (export_dir / "README.md").read_text()


def test_a_failed_check_fails_the_export_with_exit_1_naming_the_difference_and_writes_no_export_dir(lora_run, tmp_path, monkeypatch):
    """A logits bound no export can meet stands in for a broken write (the corrupted-shard test shows the checks catch one)."""
    from workflows.export import check

    monkeypatch.setitem(check.LOGITS_TOLERANCE, "float32", -1.0)
    export_dir = tmp_path / "never"
    code = export_in_process(monkeypatch, f"adapter_name_or_path={lora_run}", f"export_dir={export_dir}", f"output_dir={tmp_path / 'job'}")
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert code == 1 and (status["state"], status["exit_code"]) == ("failed", 1)
    assert "logits: largest difference" in status["error"] and f"nothing was put in {export_dir}" in status["error"]
    report = json.loads((tmp_path / "job" / "export_check.json").read_text())
    assert not report["passed"] and [c["name"] for c in report["checks"] if not c["passed"]] == ["logits"]
    assert not export_dir.exists() and not list(tmp_path.glob(".never.partial-*"))


def test_an_export_stopped_before_writing_leaves_nothing(lora_run, tmp_path):
    from workflows.config import load_config
    from workflows.export.command import export
    from workflows.run_dir import RunDirectory

    class Stopped:
        received = "SIGTERM"

    run_dir = RunDirectory(tmp_path / "job", "export")
    run_dir.path.mkdir()
    config = load_config(None, {"adapter_name_or_path": str(lora_run), "export_dir": str(tmp_path / "model")})
    outcome = export(config, run_dir, Stopped(), ["export"])
    assert outcome.state == "aborted" and "nothing was exported" in outcome.note
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(".model.partial-*"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "needs `adapter_name_or_path`"),
        (["adapter_name_or_path=MODEL", "finetuning_type=lora"], "holds a whole model"),
        (["adapter_name_or_path=RUN", "export_dir=runs/lora"], "not empty"),
        (["adapter_name_or_path=RUN", "export_quantization_bit=4", "export_quantization_dataset=data/identity.json"], "needs a CUDA GPU"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2_and_no_export_folder(workdir, lora_run, exported, overrides, message, tmp_path):
    if torch.cuda.is_available() and "export_quantization_bit=4" in overrides:
        pytest.skip("GPTQ is allowed on a GPU machine")
    words = [word.replace("MODEL", str(exported / "model")).replace("RUN", str(lora_run)) for word in overrides]
    result = workflows("export", f"output_dir={tmp_path / 'job'}", *words, cwd=workdir, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert json.loads((tmp_path / "job" / "status.json").read_text())["state"] == "failed"
    assert not (tmp_path / "job" / "model").exists()


def test_adapters_of_another_base_model_are_refused(workdir, lora_run, tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    other = tmp_path / "other-base"
    Qwen2ForCausalLM(Qwen2Config(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                                 num_key_value_heads=1)).save_pretrained(other)  # fmt: skip
    result = workflows(
        "export", f"model_name_or_path={other}", f"adapter_name_or_path={lora_run}", f"output_dir={tmp_path / 'job'}", cwd=workdir
    )
    assert result.returncode == 2 and "was trained on" in result.stderr


def test_unknown_gguf_type_and_unsupported_architecture_are_named():
    from workflows.config import load_config
    from workflows.errors import ConfigError
    from workflows.export.preflight import check_disk_space, gguf_architecture

    with pytest.raises(ConfigError, match="export_gguf"):
        load_config(None, {"export_gguf": "q3_k_m"})
    with pytest.raises(ConfigError, match="GPTNeoXForCausalLM"):
        gguf_architecture({"architectures": ["GPTNeoXForCausalLM"]})
    assert gguf_architecture({"architectures": ["MistralForCausalLM"]}) == "llama"  # llama.cpp runs Mistral as Llama
    with pytest.raises(ConfigError, match="Not enough disk space"):
        check_disk_space(10**10, Path("."), free=10**9)


def test_a_llama_factory_merge_lora_config_loads_unchanged(tmp_path):
    from workflows.config import load_config

    # LLaMA-Factory's examples/merge_lora/llama3_lora_sft.yaml with the model and adapter paths swapped for local ones.
    path = tmp_path / "llama3_lora_sft.yaml"
    path.write_text(
        "### Note: DO NOT use quantized model or quantization_bit when merging lora adapters\n\n"
        "### model\nmodel_name_or_path: llamaboard-tiny\nadapter_name_or_path: saves/tiny/lora/sft\ntemplate: llama3\n"
        "trust_remote_code: true\n\n### export\nexport_dir: output/llama3_lora_sft\nexport_size: 2\nexport_device: cpu\n"
        "export_legacy_format: false\n"
    )
    config = load_config(path)
    assert config.export.export_size == 2 and config.export.export_dir == "output/llama3_lora_sft" and config.model.trust_remote_code


def test_an_offline_hub_upload_fails_clearly_after_the_local_export_is_complete(workdir, lora_run):
    """No hub here (HF_HUB_OFFLINE=1): the upload fails, saying so, and the local export stays complete and checked."""
    result = workflows("export", f"adapter_name_or_path={lora_run}", "output_dir=runs/hub", "export_hub_model_id=someone/tiny", cwd=workdir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is complete and checked, but uploading it to the Hub as `someone/tiny`" in result.stderr
    export_dir = workdir / "runs" / "hub" / "model"
    assert (export_dir / "config.json").is_file() and json.loads((workdir / "runs" / "hub" / "export_check.json").read_text())["passed"]
