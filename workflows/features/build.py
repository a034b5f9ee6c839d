"""Build (or load from cache) the tokenised train and eval sets of a run.

The cache key is a fingerprint of everything the features depend on: the
bytes of the dataset files and of dataset_info.json, every data setting but
those that only say how the work is done, the stage and seed, the template's
definition and the whole tokenizer (vocabulary, merges, normalisation, special
tokens). A second run with the same inputs skips tokenisation entirely;
changing any of them, or passing `overwrite_cache`, tokenises again.

One process at a time reads or writes a cache entry (an flock beside it): the
ranks of a torchrun job, or two jobs on the same data, would otherwise tokenise
at once and replace the folder under each other. The first to get the lock
builds; the others load what it built.
"""

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from workflows.config import RunConfig
from workflows.data import dataset_files, load_examples, split_train_eval
from workflows.data.registry import DATASET_INFO
from workflows.errors import DatasetError
from workflows.features.packing import pack_sequences
from workflows.features.parallel import encode_in_workers, worker_count
from workflows.features.preference import encode_kto, encode_pairwise, encode_prompt, with_kl_rows
from workflows.features.pretrain import encode_pretrain
from workflows.features.supervised import IGNORE_INDEX, supervised_features
from workflows.features.table import TokenTable
from workflows.models.tiny import cache_root
from workflows.stages import get_stage

logger = logging.getLogger(__name__)
FEATURES_VERSION = "3"  # bump when the encoding code changes what it produces
NOT_IN_FINGERPRINT = {"overwrite_cache", "preprocessing_num_workers", "padding_free"}
"""Data settings that change how features are made or batched, never what they hold; every other one is in the key."""


@dataclass
class Features:
    train: TokenTable  # input_ids, labels (and position_ids when packed; the pairs' and KTO columns for those stages)
    eval: Optional[TokenTable]
    fingerprint: str
    files: dict[str, str] = field(default_factory=dict)  # file path -> sha256, for provenance
    from_cache: bool = False


def packing_enabled(config: RunConfig) -> bool:
    packing = config.data.packing
    return get_stage(config.finetuning.stage).packs_by_default if packing is None else packing


def _encode_pretrain(examples: list[dict], config: RunConfig, tokenizer, template) -> list[dict]:
    return [chunk for example in examples for chunk in encode_pretrain(as_text(example), tokenizer, config.data)]


def _encode_supervised(examples: list[dict], config: RunConfig, tokenizer, template) -> list[dict]:
    conversations = [(_as_conversation(example)["messages"], example.get("tools")) for example in examples]
    return [supervised_features(pairs, config.data) for pairs in template.encode_multiturn_batch(tokenizer, conversations)]


def _encode_with(encoder):
    def encode(examples: list[dict], config: RunConfig, tokenizer, template) -> list[dict]:
        return [encoder(example, template, tokenizer, config.data) for example in examples]

    return encode


ENCODERS = {
    "pretrain": _encode_pretrain,
    "supervised": _encode_supervised,
    "pairwise": _encode_with(encode_pairwise),
    "kto": _encode_with(encode_kto),
    "prompt": _encode_with(encode_prompt),
}
"""Feature builders by the name the stage registry gives (``Stage.features``)."""


def encode_examples(examples: list[dict], config: RunConfig, tokenizer, template, workers: int = 1) -> list[dict]:
    """Token ids and labels for each example, in order (pt documents may give several chunks)."""
    encode = ENCODERS[get_stage(config.finetuning.stage).features]
    if workers > 1:
        return encode_in_workers(encode, examples, config, tokenizer, template, workers)
    return encode(examples, config, tokenizer, template)


def build_features(config: RunConfig, tokenizer, template) -> Features:
    data = config.data
    if not data.dataset:
        raise DatasetError("No training data: set `dataset` to one or more names from dataset_info.json (e.g. dataset: identity).")
    files = _file_digests(config)
    fingerprint = _fingerprint(config, tokenizer, template, files)
    cache_dir = cache_root() / "datasets" / fingerprint
    with _one_process_at_a_time(cache_dir):
        if (cache_dir / "train").is_dir() and not _rebuilds(config):
            logger.info("Loaded tokenised data from cache %s (fingerprint %s)", cache_dir, fingerprint)
            eval_set = TokenTable.load(cache_dir / "eval") if (cache_dir / "eval").is_dir() else None
            return Features(TokenTable.load(cache_dir / "train"), eval_set, fingerprint, files, from_cache=True)
        train_set, eval_set = _tokenise(config, tokenizer, template, cache_dir)
    return Features(train_set, eval_set, fingerprint, files)


@contextmanager
def _one_process_at_a_time(cache_dir: Path) -> Iterator[None]:
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_dir.with_name(cache_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _rebuilds(config: RunConfig) -> bool:
    """`overwrite_cache` is for the first process of a machine; the other ranks of a torchrun job load what it built
    (LLaMA-Factory's rule), instead of each tokenising again and replacing the folder another rank has loaded."""
    return config.data.overwrite_cache and int(os.environ.get("LOCAL_RANK", "0")) == 0


def _tokenise(config: RunConfig, tokenizer, template, cache_dir: Path):
    """Tokenise the train (and eval) examples and save them as the cache entry; returns the loaded (train, eval) sets."""
    data = config.data
    seed = config.training.seed
    examples = load_examples(data, data.dataset, config.finetuning.stage, seed=seed)
    if data.eval_dataset:
        train_examples, eval_examples = examples, load_examples(data, data.eval_dataset, config.finetuning.stage, seed=seed)
    elif data.val_size > 0:
        train_examples, eval_examples = split_train_eval(examples, data.val_size, seed=seed)
    else:
        train_examples, eval_examples = examples, []
    train = _encode_rows(train_examples, config, tokenizer, template)
    if not train:
        raise DatasetError(f"Dataset `{data.dataset}` gave no trainable examples after tokenisation (every answer was masked or empty).")
    evaluation = _encode_rows(eval_examples, config, tokenizer, template) if eval_examples else []
    logger.info(
        "Tokenised %d train and %d eval examples into %d and %d rows", len(train_examples), len(eval_examples), len(train), len(evaluation)
    )
    return _save(cache_dir, train, evaluation)


def _as_conversation(example: dict) -> dict:
    if "messages" not in example:
        raise DatasetError(
            f"Record {example.get('source', '?')} has no conversation; `stage: sft` needs instruction or chat data, not plain text."
        )
    return example


def as_text(example: dict) -> dict:
    """Plain text for pre-training; a conversation is flattened to its contents like LLaMA-Factory does."""
    if "text" in example:
        return example
    return {"text": "\n".join(message["content"] for message in example["messages"] if message["role"] != "system")}


def _encode_rows(examples: list[dict], config: RunConfig, tokenizer, template) -> list[dict]:
    workers = worker_count(config.data.preprocessing_num_workers, len(examples))
    return _to_rows(encode_examples(examples, config, tokenizer, template, workers), config)


def _to_rows(encoded: list[dict], config: RunConfig) -> list[dict]:
    features = get_stage(config.finetuning.stage).features
    if features == "prompt":  # ppo: prompts only, the answers are generated
        return [{"input_ids": item["input_ids"]} for item in encoded if item["input_ids"]]
    label_keys = [key for key in ("labels", "rejected_labels") if key in (encoded[0] if encoded else {})]
    rows = [
        {key: value for key, value in item.items() if key != "dropped_answer_tokens"}
        for item in encoded
        if all(any(label != IGNORE_INDEX for label in item[key]) for key in label_keys)
    ]
    if features == "kto":
        return with_kl_rows(rows, config.data.cutoff_len)
    return pack_sequences(rows, config.data.cutoff_len) if packing_enabled(config) else rows


def _save(cache_dir: Path, train: list[dict], evaluation: list[dict]) -> tuple[TokenTable, Optional[TokenTable]]:
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=cache_dir.parent))
    TokenTable.from_rows(train).save(staging / "train")
    if evaluation:
        TokenTable.from_rows(evaluation).save(staging / "eval")
    shutil.rmtree(cache_dir, ignore_errors=True)
    staging.rename(cache_dir)
    eval_set = TokenTable.load(cache_dir / "eval") if evaluation else None
    return TokenTable.load(cache_dir / "train"), eval_set


def _file_digests(config: RunConfig) -> dict[str, str]:
    names = [name for name in (config.data.dataset, config.data.eval_dataset) if name]
    paths = [path for name in names for path in dataset_files(config.data, name)]  # checks that dataset_info.json exists
    paths.append(Path(config.data.dataset_dir) / DATASET_INFO)  # its entries say how the files are read
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _fingerprint(config: RunConfig, tokenizer, template, files: dict[str, str]) -> str:
    settings = {key: value for key, value in config.data.model_dump().items() if key not in NOT_IN_FINGERPRINT}
    settings.update(stage=config.finetuning.stage, seed=config.training.seed, version=FEATURES_VERSION)
    settings["template_definition"] = _template_definition(template)
    digest = hashlib.sha256(json.dumps([settings, sorted(files.items())], sort_keys=True, default=str).encode())
    digest.update(_tokenizer_definition(tokenizer).encode())
    return digest.hexdigest()[:16]


def _template_definition(template) -> str:
    """A named template's spec, or the Jinja source of `template: auto`: what the rendering depends on."""
    return repr(getattr(template, "spec", None) or getattr(template, "chat_template", None) or template.name)


def _tokenizer_definition(tokenizer) -> str:
    """A fast tokenizer's whole serialisation (4x quicker than dumping the vocabulary of a 150k-token one), else its vocabulary."""
    if getattr(tokenizer, "is_fast", False):
        definition = tokenizer.backend_tokenizer.to_str()
    else:
        definition = json.dumps(sorted(tokenizer.get_vocab().items()))
    return definition + str(tokenizer.all_special_tokens) + str(getattr(tokenizer, "add_bos_token", None))
