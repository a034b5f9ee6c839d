"""GPTQ quantization of the merged model (``export_quantization_bit``), through transformers' ``GPTQConfig``.

transformers 5 quantizes with the ``gptqmodel`` package, and gptqmodel 7.6.0
resolves against our pins (torch 2.13, transformers 5.23) without moving them.
It needs a CUDA GPU, so a CPU-only machine gets a clear error before any
work. UNTESTED here: no GPU was available when this was written.
"""

import json
import random
from pathlib import Path

from workflows.errors import ConfigError


def check_gptq_available(bits: int) -> None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"`export_quantization_bit: {bits}` (GPTQ) needs a CUDA GPU, and this machine has none. Remove export_quantization_bit "
            "to export full precision here, or use export_gguf (q8_0, q4_0 ...) for a quantized file that runs on a CPU."
        )
    if importlib.util.find_spec("gptqmodel") is None:
        raise ConfigError(f"`export_quantization_bit: {bits}` (GPTQ) needs the gptqmodel package: pip install gptqmodel==7.6.0")


def calibration_texts(path: str, nsamples: int, seed: int = 42) -> list[str]:
    """Up to ``nsamples`` texts from a .txt file (one a line) or .json/.jsonl records' ``text`` fields (else their first string)."""
    file = Path(path)
    raw = file.read_text(encoding="utf-8")
    if file.suffix == ".txt":
        texts = [line for line in raw.splitlines() if line.strip()]
    else:
        records = [json.loads(line) for line in raw.splitlines() if line.strip()] if file.suffix == ".jsonl" else json.loads(raw)
        texts = [_text_of(record) for record in records]
    texts = [text for text in texts if text]
    if not texts:
        raise ConfigError(f"`export_quantization_dataset: {path}` holds no text to calibrate with.")
    random.Random(seed).shuffle(texts)
    return texts[:nsamples]


def _text_of(record) -> str:
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        if isinstance(record.get("text"), str):
            return record["text"]
        return next((value for value in record.values() if isinstance(value, str)), "")
    return ""


def quantize_folder(source: Path, target: Path, tokenizer, bits: int, texts: list[str], max_length: int, max_shard_size: int) -> None:
    """Load the merged model from ``source`` quantized with GPTQ on the GPU and save it to ``target``."""
    from transformers import AutoModelForCausalLM, GPTQConfig

    texts = [tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]) for text in texts]
    quantization = GPTQConfig(bits=bits, dataset=texts, tokenizer=tokenizer, model_seqlen=max_length)
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=quantization, device_map="auto")
    model.save_pretrained(target, max_shard_size=max_shard_size)
