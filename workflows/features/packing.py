"""Pack short sequences into `cutoff_len` rows without letting them see each other.

Each packed row carries `position_ids` that restart at 0 for every sequence
and no attention mask; transformers then builds a block-diagonal mask from the
position ids, so a token attends only to its own sequence. The first label of
every sequence is masked so no token learns to predict the start of the next,
unrelated sequence.
"""

from workflows.features.supervised import IGNORE_INDEX


def pack_sequences(sequences: list[dict], cutoff_len: int) -> list[dict]:
    """First-fit-decreasing bin packing; deterministic for the same input."""
    order = sorted(range(len(sequences)), key=lambda index: (-len(sequences[index]["input_ids"]), index))
    bins: list[list[int]] = []
    space: list[int] = []
    for index in order:
        length = len(sequences[index]["input_ids"])
        target = next((slot for slot, free in enumerate(space) if free >= length), None)
        if target is None:
            bins.append([])
            space.append(cutoff_len)
            target = len(bins) - 1
        bins[target].append(index)
        space[target] -= length
    return [concatenate_sequences([sequences[index] for index in members]) for members in bins]


def concatenate_sequences(members: list[dict]) -> dict:
    """One row of several sequences: position_ids restart at 0 and the first label of each is masked."""
    packed = {"input_ids": [], "labels": [], "position_ids": []}
    for sequence in members:
        length = len(sequence["input_ids"])
        packed["input_ids"] += sequence["input_ids"]
        packed["labels"] += [IGNORE_INDEX] + list(sequence["labels"][1:])
        packed["position_ids"] += list(range(length))
    return packed
