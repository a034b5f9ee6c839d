"""The built-in tiny model: a few-MB Qwen2 with a ChatML byte-level BPE tokenizer.

It lets tests, the quickstart and the UI run on a CPU machine with no model
hub. It is built offline and deterministically on first use: the tokenizer is
trained on the project's own demo data and the weights are seeded, so the same
sources always give the same files. The folder name carries a hash of those
sources, so a change to the recipe or the data builds a new model beside the
old one instead of reusing a stale one.
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from workflows.config.schema import BUILTIN_TINY_MODEL, DataArgs

PROJECT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 4096
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ARCHITECTURE = dict(
    hidden_size=128,
    intermediate_size=352,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)
RECIPE_VERSION = "1"
IDENTITY_DEFAULTS = {key: DataArgs.model_fields[key].default for key in ("identity_name", "identity_author")}


def cache_root() -> Path:
    """Where LlamaBoard caches built models and tokenised datasets."""
    return Path(os.environ.get("LLAMABOARD_CACHE", Path.home() / ".cache" / "llamaboard"))


def is_builtin(model_name_or_path: str) -> bool:
    return model_name_or_path == BUILTIN_TINY_MODEL


def build_tiny_model(cache_dir: Path | None = None) -> Path:
    """Return the folder of the built-in model, building it first if needed."""
    corpus_files = sorted(
        path for path in PROJECT_DATA_DIR.glob("*") if path.suffix in {".json", ".jsonl", ".txt"} and path.name != "dataset_info.json"
    )
    digest = hashlib.sha256(RECIPE_VERSION.encode() + json.dumps(ARCHITECTURE, sort_keys=True).encode())
    for path in corpus_files:
        digest.update(path.name.encode() + path.read_bytes())
    target = (cache_dir or cache_root() / "models") / f"{BUILTIN_TINY_MODEL}-{digest.hexdigest()[:12]}"
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        _write_tokenizer(staging, corpus_files)
        _write_model(staging)
        try:
            staging.rename(target)  # atomic: concurrent builders (tests, DDP ranks) never see half a model
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _corpus(files: list[Path]) -> Iterator[str]:
    """Every string in the demo data files, in a fixed order."""
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".txt":
            yield from text.splitlines()
            continue
        records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)
        yield from _strings(records)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value.replace("{{name}}", IDENTITY_DEFAULTS["identity_name"]).replace("{{author}}", IDENTITY_DEFAULTS["identity_author"])
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _write_tokenizer(folder: Path, corpus_files: list[Path]) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(corpus_files), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=ARCHITECTURE["max_position_embeddings"],
    )
    wrapped.chat_template = CHATML_TEMPLATE
    wrapped.save_pretrained(folder)


def _write_model(folder: Path) -> None:
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        **ARCHITECTURE,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id).save_pretrained(folder)
