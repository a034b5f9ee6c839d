"""`python -m workflows export`: a job that writes a standalone model, checks it, and only then puts it in place.

The job's run directory (``output_dir``, default ``saves/<model>/export/export_<time>``) holds run.yaml,
status.json, running_log.txt, progress rows in trainer_log.jsonl and export_check.json. The model goes to
``export_dir`` (default ``<run directory>/model``) through a hidden staging folder beside it that is renamed
into place only after every check passed, so a folder at ``export_dir`` is always a complete, verified export.
"""

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.export import check as checks
from workflows.export.preflight import check_disk_space, check_request, estimated_bytes, gguf_architecture
from workflows.jobs import Outcome, ProgressLog, StopSignal, run_job
from workflows.run_dir import EXPORT_CHECK_FILE, RunDirectory, default_job_name, job_folder, write_json_atomic

logger = logging.getLogger(__name__)
STEPS = ("load and merge", "write model", "write gguf", "check", "put in place")


def default_export_run_dir(config: RunConfig) -> Path:
    return job_folder(
        Path("saves"), "export", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("export")
    )


def export_command(config: RunConfig, argv: list[str]) -> int:
    """Run the export as a job; returns the exit code (0, 1 for a failed check or a bug, 2 for bad input, 143 aborted)."""
    run_path = Path(config.training.output_dir or default_export_run_dir(config))
    export_dir = Path(config.export.export_dir or run_path / "model")
    config = config.replace(output_dir=str(run_path), export_dir=str(export_dir))
    run_dir = RunDirectory(run_path, "export")
    run_dir.check_writable(overwrite=True, resuming=False)

    def work(stop: StopSignal) -> Outcome:
        config.write_yaml(run_dir.config_path)
        return export(config, run_dir, stop, ["export", *argv])

    return run_job(run_dir, ["export", *argv], work)


def export(config: RunConfig, run_dir: RunDirectory, stop: StopSignal, command: list[str]) -> Outcome:
    export_dir = Path(config.export.export_dir)
    check_request(config, export_dir)
    progress = ProgressLog(run_dir, len(STEPS), unit="step")
    progress.update(0)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.partial-", dir=export_dir.parent))
    try:
        outcome = _export_into(config, run_dir, stop, command, staging, progress)
        if outcome.state == "finished":
            _put_in_place(staging, export_dir)
            progress.update(len(STEPS))
            print(f"Exported to {export_dir}", flush=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if outcome.state == "finished" and config.export.export_hub_model_id:
        from workflows.export.hub import push_to_hub

        push_to_hub(export_dir, config.export.export_hub_model_id)
    return outcome


def _export_into(config, run_dir, stop, command, staging: Path, progress: ProgressLog) -> Outcome:
    import torch

    from workflows.export.gguf_file import gguf_file_name, plan_tensors, write_gguf
    from workflows.export.hf_folder import write_hf_folder
    from workflows.export.model_card import model_card
    from workflows.export.modelfile import ollama_modelfile
    from workflows.export.source import load_source

    options = config.export
    device = "cuda" if options.export_device == "auto" and torch.cuda.is_available() else "cpu"
    source = load_source(config, device)
    model = source.model
    parameters = sum(parameter.numel() for parameter in model.parameters())
    check_disk_space(estimated_bytes(parameters, model.dtype.itemsize, options.export_gguf), staging)
    progress.update(1, parameters=parameters)
    if stop.received:
        return Outcome("aborted", f"Aborted by {stop.received} before writing; nothing was exported.")

    state_dict = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    model.to("cpu")
    chat_template = write_hf_folder(source, staging, options.export_size, options.export_legacy_format, config.data.enable_thinking)
    (staging / "README.md").write_text(
        model_card(config, source.base_path, source.adapters, source.template_name, [sys.executable, "-m", "workflows", *command]),
        encoding="utf-8",
    )
    progress.update(2)
    if stop.received:
        return Outcome("aborted", f"Aborted by {stop.received}; nothing was exported.")

    report = checks.CheckReport()
    if options.export_gguf:
        architecture = gguf_architecture(model.config.to_dict())
        name = Path(options.export_dir).name
        gguf_path = staging / gguf_file_name(name, options.export_gguf)
        write_gguf(gguf_path, state_dict, model.config, architecture, options.export_gguf, staging, source.tokenizer, chat_template, name)
        (staging / "Modelfile").write_text(ollama_modelfile(gguf_path.name, source.template, config.data.default_system), encoding="utf-8")
        planned = list(plan_tensors(state_dict, model.config, architecture, options.export_gguf))
        checks.check_gguf(report, gguf_path, planned, gguf_metadata(architecture, model.config, source.tokenizer))
    progress.update(3)

    if not options.export_legacy_format:
        checks.check_weights(report, staging, state_dict)
    checks.check_logits(report, staging, source.prompt_ids, source.reference_logits, str(model.dtype).removeprefix("torch."))
    checks.check_template(report, staging, source.template)
    write_json_atomic(run_dir.path / EXPORT_CHECK_FILE, report.to_json())
    if not report.passed:
        raise checks.ExportCheckFailed(f"The export check failed, so nothing was put in {options.export_dir}: {report.worst_failure()}.")
    logger.info("Export check passed: %s", ", ".join(f"{c['name']} max diff {c['max_abs_diff']}" for c in report.checks))

    if options.export_quantization_bit:
        _quantize_gptq(config, source, staging)
    progress.update(4)
    return Outcome("finished")


def gguf_metadata(architecture: str, hf_config, tokenizer) -> dict:
    """What the GGUF must say about itself (checked after writing)."""
    expected = {
        "general.architecture": architecture,
        f"{architecture}.context_length": hf_config.max_position_embeddings,
        f"{architecture}.block_count": hf_config.num_hidden_layers,
        f"{architecture}.embedding_length": hf_config.hidden_size,
        "tokenizer.ggml.eos_token_id": tokenizer.eos_token_id,
    }
    if tokenizer.pad_token_id is not None:
        expected["tokenizer.ggml.padding_token_id"] = tokenizer.pad_token_id
    if tokenizer.bos_token_id is not None:
        expected["tokenizer.ggml.bos_token_id"] = tokenizer.bos_token_id
    return expected


def _quantize_gptq(config: RunConfig, source, staging: Path) -> None:
    """Replace the full-precision weights in ``staging`` with GPTQ ones (GPU only; checked before any work)."""
    from workflows.export.gptq import calibration_texts, quantize_folder
    from workflows.export.hf_folder import shard_bytes, weight_files

    options = config.export
    quantized = staging.parent / f"{staging.name}-gptq"
    texts = calibration_texts(options.export_quantization_dataset, options.export_quantization_nsamples)
    quantize_folder(staging, quantized, source.tokenizer, options.export_quantization_bit, texts, options.export_quantization_maxlen,
                    shard_bytes(options.export_size))  # fmt: skip
    for path in [*weight_files(staging), *staging.glob("*.index.json"), staging / "config.json"]:
        path.unlink(missing_ok=True)
    for path in quantized.iterdir():
        os.replace(path, staging / path.name)
    shutil.rmtree(quantized, ignore_errors=True)


def _put_in_place(staging: Path, export_dir: Path) -> None:
    """Rename the finished folder to export_dir (an empty export_dir is replaced); refuse if it filled up meanwhile."""
    if export_dir.is_dir() and not any(export_dir.iterdir()):
        export_dir.rmdir()
    if export_dir.exists():
        raise ConfigError(f"`export_dir: {export_dir}` appeared while exporting: nothing was put there.")
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    for path in staging.iterdir():  # mkdtemp and atomic writers leave 0600; an export is meant to be shared
        path.chmod(0o666 & ~umask)
    os.replace(staging, export_dir)
