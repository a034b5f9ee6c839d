"""Turn a list of features into a batch of tensors: padded rows, or one flattened row without padding."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from workflows.features.packing import concatenate_sequences
from workflows.features.supervised import IGNORE_INDEX


@dataclass
class PaddingCollator:
    """Right-pads `input_ids` (pad id), `labels` (-100) and, for packed rows, `position_ids`.

    Unpacked batches get an attention mask. Packed batches must not: their
    `position_ids` tell the model where each sequence starts, and the padding
    tail continues counting so it forms one more sequence of its own.
    """

    pad_token_id: int
    pad_to_multiple_of: int = 8

    def padded_width(self, lengths: list[int]) -> int:
        return -(-max(lengths) // self.pad_to_multiple_of) * self.pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = self.padded_width([len(feature["input_ids"]) for feature in features])
        packed = "position_ids" in features[0]
        batch = {"input_ids": [], "labels": []}
        if packed:
            batch["position_ids"] = []
        else:
            batch["attention_mask"] = []
        for feature in features:
            length = len(feature["input_ids"])
            padding = width - length
            batch["input_ids"].append(list(feature["input_ids"]) + [self.pad_token_id] * padding)
            batch["labels"].append(list(feature["labels"]) + [IGNORE_INDEX] * padding)
            if packed:
                batch["position_ids"].append(list(feature["position_ids"]) + list(range(padding)))
            else:
                batch["attention_mask"].append([1] * length + [0] * padding)
        return {key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()}


@dataclass
class FlatteningCollator:
    """Padding-free batches, as transformers' DataCollatorWithFlattening makes them.

    The examples of a batch are concatenated into one row of shape (1, total
    tokens), with `position_ids` restarting at 0 for each and no attention
    mask: transformers then keeps every example to itself (a block-diagonal
    mask for sdpa/eager, variable-length kernels for FlashAttention). The
    first label of each example is masked, so no token learns to predict the
    start of the next, unrelated example; the loss equals the padded batch's.

    ``flatten_when`` (given the example lengths and the padded width) picks,
    batch by batch, whether to flatten or to pad with ``padding``.
    """

    padding: PaddingCollator
    flatten_when: Optional[Callable[[list[int], int], bool]] = None

    def __call__(self, features: list[dict]) -> dict:
        import torch

        lengths = [len(feature["input_ids"]) for feature in features]
        if self.flatten_when is not None and not self.flatten_when(lengths, self.padding.padded_width(lengths)):
            return self.padding(features)
        row = concatenate_sequences(features)
        return {key: torch.tensor([value], dtype=torch.long) for key, value in row.items()}
