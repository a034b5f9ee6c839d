"""Model choices of the top bar: well-known ids with their chat templates, and trained adapters.

The table below is a convenience for picking a model, not a registry: any hub
id or local folder can be typed, and the engine decides the template when
none is chosen (the tokenizer's own chat_template when it has one).
"""

import re
from pathlib import Path
from typing import Optional

from llamaboard.paths import confine
from workflows.config import BUILTIN_TINY_MODEL
from workflows.run_dir import find_runs, has_final_model, list_checkpoints, model_folder_name, read_run_config, read_state

WELL_KNOWN_MODELS: dict[str, Optional[str]] = {
    BUILTIN_TINY_MODEL: None,
    "Qwen/Qwen2.5-0.5B-Instruct": "qwen2_5",
    "Qwen/Qwen2.5-1.5B-Instruct": "qwen2_5",
    "Qwen/Qwen2.5-7B-Instruct": "qwen2_5",
    "Qwen/Qwen3-0.6B": "qwen3",
    "Qwen/Qwen3-4B": "qwen3",
    "Qwen/Qwen3-8B": "qwen3",
    "meta-llama/Llama-3.1-8B-Instruct": "llama3_1",
    "meta-llama/Llama-3.2-1B-Instruct": "llama3_2",
    "meta-llama/Llama-3.2-3B-Instruct": "llama3_2",
    "meta-llama/Meta-Llama-3-8B-Instruct": "llama3",
    "mistralai/Mistral-7B-Instruct-v0.3": "mistral",
    "google/gemma-2-2b-it": "gemma2",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": "deepseekr1",
    "microsoft/Phi-3.5-mini-instruct": "phi3_5",
}
HUB_ID_PATTERN = re.compile(r"^(?!\.{1,2}/)[A-Za-z0-9_][A-Za-z0-9_.-]*/(?!\.{1,2}$)[A-Za-z0-9_.-]+$")


def template_for(model: str) -> Optional[str]:
    """The template a well-known model needs; None lets the engine use the tokenizer's own."""
    return WELL_KNOWN_MODELS.get(model)


def check_model(model: str, roots: list[Path]) -> str:
    """Hub ids and the built-in model pass unchanged; anything else is a local path and is confined."""
    model = (model or "").strip()
    if model == BUILTIN_TINY_MODEL or (HUB_ID_PATTERN.match(model) and not (roots[0] / model).exists()):
        return model
    return str(confine(model, roots, "model path"))


def adapter_choices(saves_dir: Path, model: str, finetuning_type: str) -> list[tuple[str, str]]:
    """(label, path) for every final model or adapter and every ``checkpoint-N`` of this model's runs with this method.

    Runs are recognised by their run.yaml, wherever under saves/ they were written. Reward models (stage rm) are
    left out: they score answers and cannot chat or carry a language model (the RLHF reward model picker offers them).
    """
    choices = []
    for run_dir in find_runs(saves_dir):
        if read_state(run_dir).kind != "train":
            continue
        config = read_run_config(run_dir)
        if (
            config.get("stage") == "rm"
            or model_folder_name(str(config.get("model_name_or_path") or "")) != model_folder_name(model)
            or config.get("finetuning_type", "lora") != finetuning_type
        ):
            continue
        if has_final_model(run_dir):
            choices.append((run_dir.name, str(run_dir)))
        choices.extend((f"{run_dir.name}/{checkpoint.name}", str(checkpoint)) for checkpoint in reversed(list_checkpoints(run_dir)))
    return choices
