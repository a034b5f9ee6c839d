"""Sample, mix and split lists of examples, deterministically for a given seed.

The semantics follow LLaMA-Factory (which relies on Hugging Face `datasets`):
`num_samples` draws that many examples at random, repeating when it exceeds the
dataset; `max_samples` then keeps the first N; `interleave_under` stops when
the first dataset runs out, `interleave_over` restarts exhausted datasets until
every one has been used up once; `val_size` is a fraction or a count.
"""

import itertools
import math
import random
from typing import Optional

from workflows.errors import ConfigError

MIX_STRATEGIES = ("concat", "interleave_under", "interleave_over")


def sample_examples(examples: list[dict], num_samples: Optional[int], max_samples: Optional[int], seed: int) -> list[dict]:
    """Apply dataset_info's `num_samples` (random, with repeats past the end), then `max_samples` (the first N)."""
    if num_samples is not None:
        rng = random.Random(seed)
        indices = rng.sample(range(len(examples)), min(num_samples, len(examples)))
        indices += rng.choices(range(len(examples)), k=num_samples - len(indices))
        examples = [examples[index] for index in indices]
    if max_samples is not None:
        examples = examples[:max_samples]
    return examples


def mix_examples(datasets: list[list[dict]], strategy: str, interleave_probs: Optional[str], seed: int) -> list[dict]:
    """Combine the examples of several datasets: concatenated, or interleaved by round-robin or by probabilities."""
    if strategy not in MIX_STRATEGIES:
        raise ConfigError(f"mix_strategy `{strategy}` is unknown; use one of {', '.join(MIX_STRATEGIES)}.")
    if strategy == "concat" or len(datasets) == 1:
        return [example for examples in datasets for example in examples]
    probs = _parse_probs(interleave_probs, len(datasets), strategy)
    rng = random.Random(seed)
    sources = (
        itertools.cycle(range(len(datasets))) if probs is None else iter(lambda: rng.choices(range(len(datasets)), weights=probs)[0], None)
    )
    done = all if strategy == "interleave_over" else any
    positions, exhausted, mixed = [0] * len(datasets), [False] * len(datasets), []
    while not done(exhausted):
        source = next(sources)
        mixed.append(datasets[source][positions[source]])
        positions[source] += 1
        if positions[source] == len(datasets[source]):
            exhausted[source], positions[source] = True, 0
    return mixed


def _parse_probs(interleave_probs: Optional[str], count: int, strategy: str) -> Optional[list[float]]:
    if not interleave_probs:
        return None
    try:
        probs = [float(prob) for prob in interleave_probs.split(",")]
    except ValueError:
        raise ConfigError(f"interleave_probs `{interleave_probs}` must be comma-separated numbers, e.g. 0.7,0.3.") from None
    if len(probs) != count:
        raise ConfigError(f"interleave_probs has {len(probs)} values but {count} datasets are mixed; give one per dataset.")
    if any(prob < 0 for prob in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-3):
        raise ConfigError(f"interleave_probs `{interleave_probs}` must be non-negative and sum to 1.")
    if strategy == "interleave_over" and min(probs) == 0:
        raise ConfigError("interleave_over uses every dataset up at least once, so every interleave_probs value must be above 0.")
    return probs


def split_train_eval(examples: list[dict], val_size: float, seed: int = 42) -> tuple[list[dict], list[dict]]:
    """Hold out a random evaluation split: `val_size` below 1 is a fraction (rounded up), from 1 on a count.

    Both parts keep the original order of the examples.
    """
    if val_size <= 0:
        return list(examples), []
    if val_size >= 1 and val_size != int(val_size):
        raise ConfigError(f"val_size {val_size} must be a fraction below 1 or a whole number of examples.")
    eval_count = math.ceil(val_size * len(examples)) if val_size < 1 else int(val_size)
    if eval_count >= len(examples):
        raise ConfigError(f"val_size {val_size} would hold out {eval_count} of {len(examples)} examples, leaving none to train on.")
    held_out = set(random.Random(seed).sample(range(len(examples)), eval_count))
    train = [example for index, example in enumerate(examples) if index not in held_out]
    evaluation = [example for index, example in enumerate(examples) if index in held_out]
    return train, evaluation
