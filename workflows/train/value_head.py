"""The PPO critic: a value head on the policy's own transformer (trl's ValueHead, the one LLaMA-Factory's ppo trains).

One linear layer reads the last hidden state at each position and predicts the
return from there. It is registered as a submodule of the policy's transformer
(under LoRA: of the base model the adapters wrap), so the optimizer, gradient
clipping, DDP and the checkpointed optimizer state treat it as one of the
policy's weights, and the value loss trains the shared body (the adapters) too.
It is left out of the saved model, so chat and export load a ppo run like an sft
run, and saved beside it as ``value_head.safetensors`` under trl's key names
(``v_head.summary.weight``/``bias``), the file LLaMA-Factory writes.
"""

from pathlib import Path

import torch
from torch import nn

from workflows.errors import ConfigError

VALUE_HEAD_FILE = "value_head.safetensors"
NAME = "v_head"


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)  # float32 whatever the model's dtype: values are small differences

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden_states.to(self.summary.weight.dtype)).squeeze(-1)


def attach_value_head(policy) -> ValueHead:
    """A new value head registered on ``policy``'s transformer, on the device of its output layer; returned."""
    transformer = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
    head = ValueHead(transformer.config.get_text_config().hidden_size).to(transformer.get_output_embeddings().weight.device)
    transformer.add_module(NAME, head)
    transformer._keys_to_ignore_on_save.update(f"{NAME}.{key}" for key in head.state_dict())  # a full model saves without it
    return head


def save_value_head(head: ValueHead, folder: Path) -> None:
    from safetensors.torch import save_file

    tensors = {f"{NAME}.{key}": value.detach().cpu().contiguous() for key, value in head.state_dict().items()}
    save_file(tensors, str(Path(folder) / VALUE_HEAD_FILE), metadata={"format": "pt"})


def load_value_head(head: ValueHead, folder: Path) -> None:
    from safetensors.torch import load_file

    path = Path(folder) / VALUE_HEAD_FILE
    if not path.is_file():
        raise ConfigError(
            f"`resume_from_checkpoint: {folder}` has no {VALUE_HEAD_FILE}: it was not written by this version's ppo stage, "
            "so its value model cannot be restored. Start the run again without resume_from_checkpoint."
        )
    saved = load_file(str(path), device=str(head.summary.weight.device))
    head.load_state_dict({key.removeprefix(f"{NAME}."): value for key, value in saved.items()})
