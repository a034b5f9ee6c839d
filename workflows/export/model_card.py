"""The exported model's README.md, written from the runs' own records (provenance, config, results).

Everything in it is read from files the jobs wrote, so the card says what
actually happened: base model, method, datasets with their hashes,
hyperparameters, final losses, the exact commands, and the scores of the
finished predict and eval jobs under ``saves/`` that evaluated exactly the
exported model (the same base with the same adapters in the same order, or
the same checkpoint).
"""

import json
from pathlib import Path

from workflows.config import RunConfig
from workflows.eval.measurements import evaluations_of_source
from workflows.run_dir import PROVENANCE_FILE, read_json, read_run_config

HYPERPARAMETERS = (
    "stage", "finetuning_type", "lora_rank", "lora_alpha", "lora_target", "learning_rate", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "gradient_accumulation_steps", "lr_scheduler_type", "cutoff_len", "seed",
)  # fmt: skip
RESULT_FILES = ("all_results.json", "eval_results.json", "results.json", "predict_results.json")


def run_folder(adapter: str) -> Path:
    """The run directory of an adapter (itself, or the parent of a checkpoint-N)."""
    folder = Path(adapter)
    return folder if (folder / "run.yaml").is_file() or not (folder.parent / "run.yaml").is_file() else folder.parent


def model_card(
    config: RunConfig, base_path: str, adapters: list[str], template: str, export_command: list[str], saves_dir: Path = Path("saves")
) -> str:
    """The README.md of the export; ``saves_dir`` is where the evaluation jobs are (every job's default: the workdir's ``saves/``)."""
    lines = [
        "---",
        "library_name: transformers",
        f"base_model: {config.model.model_name_or_path}",
        "tags: [llamaboard" + (", lora" if adapters else "") + "]",
        "---",
        "",
        f"# {Path(config.export.export_dir or 'model').name}",
        "",
        f"Exported by LlamaBoard from `{config.model.model_name_or_path}`"
        + (f" with {len(adapters)} LoRA adapter(s) merged in order." if adapters else " as it is (no adapters)."),
        f"Chat template: `{template}` (written into tokenizer_config.json).",
        "",
    ]
    for adapter in adapters:
        lines += _run_section(adapter)
    lines += _evaluation_section(saves_dir, config.model.model_name_or_path, adapters)
    lines += ["## Export", "", "```", " ".join(export_command), "```", ""]
    return "\n".join(lines)


def _run_section(adapter: str) -> list[str]:
    folder = run_folder(adapter)
    run_config, provenance = read_run_config(folder), read_json(folder / PROVENANCE_FILE) or {}
    lines = [f"## Adapter `{adapter}`", ""]
    if run_config:
        lines += ["| hyperparameter | value |", "|---|---|"]
        lines += [f"| {key} | {run_config[key]} |" for key in HYPERPARAMETERS if run_config.get(key) is not None]
        lines.append(f"| datasets | {run_config.get('dataset')} |")
        lines.append("")
    hashes = provenance.get("dataset_files_sha256") or {}
    if hashes:
        lines += ["Dataset files (sha256):", ""] + [f"- `{name}`: `{digest}`" for name, digest in hashes.items()] + [""]
    for name in RESULT_FILES:
        results = read_json(folder / name)
        if results:
            lines += [f"Results (`{name}`):", "", "```json", json.dumps(results, indent=2), "```", ""]
    if provenance.get("command"):
        lines += ["Training command:", "", "```", " ".join(provenance["command"]), "```", ""]
    if provenance.get("versions"):
        lines.append("Versions: " + ", ".join(f"{key} {value}" for key, value in provenance["versions"].items() if value) + ".")
    if provenance.get("git_revision"):
        lines.append(f"LlamaBoard revision: `{provenance['git_revision']}`.")
    return [*lines, ""]


def _evaluation_section(saves_dir: Path, model: str, adapters: list[str]) -> list[str]:
    """A table of every score of the finished evaluation jobs of exactly this model, newest job first."""
    evaluations = [found for found in reversed(evaluations_of_source(saves_dir, model, adapters)) if found.scores]
    if not evaluations:
        return []
    lines = ["## Evaluation", "", "| job | metric | value |", "|---|---|---|"]
    for found in evaluations:
        job = found.run_dir.relative_to(saves_dir.parent)
        lines += [f"| `{job}` | {metric} | {value:.4f} |" for metric, value in found.scores.items()]
    return [*lines, ""]
