"""Pad a list of features into a batch of tensors."""

from dataclasses import dataclass

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

    def __call__(self, features: list[dict]) -> dict:
        import torch

        longest = max(len(feature["input_ids"]) for feature in features)
        width = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
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
