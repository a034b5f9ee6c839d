"""Tokenise a large dataset in several processes (`preprocessing_num_workers`).

Rendering chat templates and cutting labels is Python work that one process
does one example at a time; forked workers each encode a contiguous chunk and
the chunks come back in order, so the features are the same whatever the
number of workers (and the cache fingerprint leaves it out).
"""

import logging
import multiprocessing
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)
MIN_EXAMPLES_PER_WORKER = 2000
"""About a second of work on one core: a worker's start-up and the copying back of its results stay small beside it."""

_job: tuple = ()  # (encode, examples, config, tokenizer, template) in a forked worker


def worker_count(asked: int | None, examples: int) -> int:
    """Workers to use: as asked (LLaMA-Factory configs often say 16), but at most one per
    usable core of this process's share of the machine and one per MIN_EXAMPLES_PER_WORKER;
    unset means as many as that allows."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores //= max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)  # every rank of a multi-process run tokenises
    return max(1, min(asked or cores, cores, examples // MIN_EXAMPLES_PER_WORKER))


def encode_in_workers(encode: Callable, examples: list[dict], config, tokenizer, template, workers: int) -> list[dict]:
    """``encode(examples, config, tokenizer, template)``, split across ``workers`` forked processes."""
    size = -(-len(examples) // workers)
    spans = [(start, start + size) for start in range(0, len(examples), size)]
    logger.info("Tokenising %d examples in %d processes", len(examples), workers)
    context = multiprocessing.get_context("fork")  # workers inherit the examples, tokenizer and template: nothing is pickled to them
    with context.Pool(workers, initializer=_start_worker, initargs=(encode, examples, config, tokenizer, template)) as pool:
        encoded = pool.map(_encode_span, spans)
    return [item for chunk in encoded for item in chunk]


def _start_worker(*job) -> None:
    global _job
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the parent's tokenizer thread pool does not survive the fork
    _job = job


def _encode_span(span: tuple[int, int]) -> list[dict]:
    encode, examples, config, tokenizer, template = _job
    return encode(examples[span[0] : span[1]], config, tokenizer, template)
