"""Write the merged model as a standalone Hugging Face folder that any runtime loads without LlamaBoard.

Weights in shards of at most ``export_size`` GB with their index (safetensors,
or ``.bin`` with ``export_legacy_format``), ``config.json``,
``generation_config.json`` whose eos ids include the template's stop words
(so generation ends at the end of a turn), and the tokenizer with the run's
chat template in ``tokenizer_config.json`` (vLLM and ``apply_chat_template``
read it from there).
"""

import json
from pathlib import Path

from workflows.export.chat_template import jinja_chat_template
from workflows.export.source import ExportSource

BYTES_PER_GB = 10**9  # transformers' "GB" in max_shard_size


def shard_bytes(export_size: float) -> int:
    return max(1, int(export_size * BYTES_PER_GB))


def write_hf_folder(source: ExportSource, folder: Path, export_size: float, legacy_format: bool, enable_thinking: bool) -> str:
    """Save model, generation config and tokenizer into ``folder``; returns the chat template written."""
    from transformers import GenerationConfig

    model, tokenizer = source.model, source.tokenizer
    stop_ids = sorted({tokenizer.convert_tokens_to_ids(word) for word in [tokenizer.eos_token, *source.template.stop_words] if word})
    generation = model.generation_config if model.generation_config is not None else GenerationConfig()
    generation.eos_token_id = stop_ids[0] if len(stop_ids) == 1 else stop_ids
    generation.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = True
    model.save_pretrained(folder, max_shard_size=shard_bytes(export_size), safe_serialization=not legacy_format)
    chat_template = jinja_chat_template(source.template, enable_thinking)
    tokenizer.chat_template = chat_template
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(folder)
    _template_into_tokenizer_config(folder, chat_template)
    return chat_template


def _template_into_tokenizer_config(folder: Path, chat_template: str) -> None:
    """transformers 5 saves the template beside the tokenizer (chat_template.jinja); runtimes that read only
    tokenizer_config.json (older transformers, some vLLM paths) need it there too, so it is written in both."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["chat_template"] = chat_template
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def weight_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")])
