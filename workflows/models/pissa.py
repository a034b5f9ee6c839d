"""PiSSA adapters on disk: every adapter folder a PiSSA run writes is a plain LoRA of the original weights.

PiSSA starts LoRA from each weight's principal singular components and takes them out of
the weight: W = W_res + B0 A0. The trained adapter (A, B) is right only on top of W_res,
which is never saved. peft converts it to a plain LoRA of twice the rank that fits W
itself: A' = [A; A0], B' = [B, -B0] (``save_pretrained`` with
``path_initial_model_for_weight_conversion``, against the initial adapter kept in
``pissa_init/``). The trainer saves every checkpoint-N that way, not only the final
adapter, because each of them is offered for chat, evaluation and export; resuming
reads A and B back out of A' and B'.
"""

import json
from pathlib import Path

from workflows.errors import ModelError

INIT_FOLDER = "pissa_init"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def is_pissa_adapter(model) -> bool:
    """Whether the model's trainable adapter was initialised by PiSSA (a continued adapter keeps its own initialisation)."""
    config = getattr(model, "peft_config", {}).get("default")
    return str(getattr(config, "init_lora_weights", "")).startswith("pissa")


def save_initial_adapter(model, run_path: Path, is_main_process: bool) -> Path:
    """Keep the PiSSA adapter as initialised (A0, B0), which each save converts against; its folder.

    A resumed run saves it again: its PiSSA initialisation ran again, and the conversion must
    subtract the components that this process took out of the base weights.
    """
    folder = Path(run_path) / INIT_FOLDER
    if is_main_process:
        model.save_pretrained(folder)
    return folder


def save_converted(model, folder: str | Path, initial_adapter: Path) -> None:
    """Overwrite the adapter in ``folder`` with its conversion to plain LoRA of the original weights."""
    import torch

    # the conversion loads the initial adapter beside the trained one, and creating its layers draws random numbers:
    # without the fork, saving a checkpoint would change the dropout of every later step
    with torch.random.fork_rng(devices=[]):
        model.save_pretrained(str(folder), path_initial_model_for_weight_conversion=str(initial_adapter))


def load_trained_form(model, folder: str | Path) -> None:
    """Set the model's PiSSA adapter to the (A, B) that a converted adapter in ``folder`` was saved from.

    The first r rows of each A' and the first r columns of each B' are A and B; the rest are
    the initial components, which this run's base weights already lack.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    rank = model.peft_config["default"].r
    saved_rank = json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8"))["r"] // 2
    if saved_rank != rank:  # slicing would not notice
        raise ModelError(f"`{folder}` holds a PiSSA adapter of rank {saved_rank}, but this run's lora_rank is {rank}.")
    converted = load_file(Path(folder) / ADAPTER_WEIGHTS)
    result = set_peft_model_state_dict(model, {name: _trained_part(name, tensor, rank) for name, tensor in converted.items()})
    if result.unexpected_keys:  # loading ignores them: the run would go on from its initial adapter without a word
        raise ModelError(
            f"`{folder}` holds adapter weights this run does not have ({', '.join(result.unexpected_keys[:3])}): "
            "it was saved with another lora_target."
        )


def _trained_part(name: str, tensor, rank: int):
    if "lora_A" in name:  # the same test peft's conversion uses to choose what it concatenates
        return tensor[:rank]
    if "lora_B" in name:
        return tensor[:, :rank]
    return tensor


def is_unconverted(folder: str | Path) -> bool:
    """Whether the adapter in ``folder`` is still in PiSSA form: it fits only the residual weights of its run.

    Older versions saved a PiSSA run's checkpoints so. Loading one makes peft redo the
    decomposition on the base weights, which a randomised SVD does not reproduce.
    """
    path = Path(folder) / ADAPTER_CONFIG
    if not path.is_file():
        return False
    init = json.loads(path.read_text(encoding="utf-8")).get("init_lora_weights")
    return str(init).startswith("pissa")
