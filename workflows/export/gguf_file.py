"""Write the merged model as one GGUF file for llama.cpp and Ollama, with the ``gguf`` package.

Tensor names come from gguf's own name maps (``get_tensor_name_map``), the
vocabulary from its vocab helpers (``BpeVocab``, ``LlamaHfVocab``,
``SentencePieceVocab``) and merges and special token ids from
``SpecialVocab``, as llama.cpp's ``convert_hf_to_gguf.py`` does. Following
that script: Llama-family q/k projections are permuted to llama.cpp's RoPE
layout, 1-D tensors (norms, biases) stay float32, a tensor whose rows do not
split into quantization blocks falls back to f16, and a tied output matrix is
not written twice.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflows.errors import ConfigError

logger = logging.getLogger(__name__)

GGUF_TYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q5_1": "Q5_1", "q5_0": "Q5_0", "q4_1": "Q4_1", "q4_0": "Q4_0"}
"""export_gguf value -> GGMLQuantizationType name; the types gguf's Python code can encode."""
FILE_TYPES = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0",
              "q5_1": "MOSTLY_Q5_1", "q5_0": "MOSTLY_Q5_0", "q4_1": "MOSTLY_Q4_1", "q4_0": "MOSTLY_Q4_0"}  # fmt: skip


def gguf_file_name(model_name: str, gguf_type: str) -> str:
    return f"{model_name}-{gguf_type}.gguf"


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor as it goes into the file: GGUF name, float32 values in numpy layout, and its storage type."""

    name: str
    values: np.ndarray
    qtype: object  # gguf.GGMLQuantizationType

    def encoded(self) -> np.ndarray:
        """The bytes (or float array) the file holds for this tensor."""
        import gguf

        if self.qtype == gguf.GGMLQuantizationType.F32:
            return self.values.astype(np.float32)
        if self.qtype == gguf.GGMLQuantizationType.F16:
            return self.values.astype(np.float16)
        return gguf.quants.quantize(self.values, self.qtype)


def plan_tensors(state_dict: dict, hf_config, architecture: str, gguf_type: str) -> Iterator[PlannedTensor]:
    """The merged weights as GGUF tensors, in state-dict order (shared by the writer and the export check)."""
    import gguf

    arch = _model_arch(architecture)
    tensor_map = gguf.get_tensor_name_map(arch, hf_config.num_hidden_layers)
    target = gguf.GGMLQuantizationType[GGUF_TYPES[gguf_type]]
    n_head, n_kv = hf_config.num_attention_heads, getattr(hf_config, "num_key_value_heads", None) or hf_config.num_attention_heads
    tied = getattr(hf_config, "tie_word_embeddings", False)
    for hf_name, tensor in state_dict.items():
        if hf_name.endswith(".rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        name = tensor_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ConfigError(f"export_gguf: the tensor {hf_name} has no GGUF name for the {architecture} architecture.")
        values = tensor.detach().float().cpu().numpy()
        if arch == gguf.MODEL_ARCH.LLAMA and hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            values = _permute(values, n_head, n_kv if hf_name.endswith("k_proj.weight") else n_head)
        yield PlannedTensor(name, values, _storage_type(values, target))


def _model_arch(architecture: str):
    import gguf

    return {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[architecture]


def _permute(weights: np.ndarray, n_head: int, heads: int) -> np.ndarray:
    """HF's rotate-half q/k rows -> llama.cpp's interleaved RoPE rows (convert_hf_to_gguf's LlamaModel.permute)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _storage_type(values: np.ndarray, target):
    import gguf

    if values.ndim < 2 or target == gguf.GGMLQuantizationType.F32:
        return gguf.GGMLQuantizationType.F32
    block_size, _ = gguf.GGML_QUANT_SIZES[target]
    if values.shape[-1] % block_size:
        return gguf.GGMLQuantizationType.F16
    return target


@dataclass(frozen=True)
class Vocabulary:
    model: str  # tokenizer.ggml.model: gpt2 (byte-level BPE) or llama (SentencePiece)
    pre: str | None  # tokenizer.ggml.pre for BPE
    tokens: list[bytes]
    scores: list[float]
    types: list[int]


def read_vocabulary(folder: Path, tokenizer, vocab_size: int, architecture: str) -> Vocabulary:
    """Tokens of the written tokenizer through gguf's vocab helpers, padded to the embedding rows.

    Special tokens the tokenizer declares are CONTROL whichever helper read them
    (a tokenizer may keep them in its base vocabulary, where a helper sees NORMAL).
    """
    import gguf
    from gguf.vocab import BpeVocab, LlamaHfVocab, SentencePieceVocab

    vocab = None
    for helper in (BpeVocab, LlamaHfVocab, SentencePieceVocab):
        try:
            vocab = helper(folder)
            break
        except (FileNotFoundError, TypeError, ImportError, ValueError):
            continue
    if vocab is None:
        raise ConfigError(f"export_gguf: the tokenizer in {folder} is neither byte-level BPE nor SentencePiece; gguf cannot read it.")
    special_ids = set(tokenizer.all_special_ids)
    tokens, scores, types = [], [], []
    for token_id, (text, score, token_type) in enumerate(vocab.all_tokens()):
        tokens.append(text)
        scores.append(score)
        types.append(int(gguf.TokenType.CONTROL if token_id in special_ids else token_type))
    for pad in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{pad}]".encode())
        scores.append(-1000.0)
        types.append(int(gguf.TokenType.UNUSED))
    model = vocab.tokenizer_model
    return Vocabulary(model, _pre_tokenizer(folder, architecture) if model == "gpt2" else None, tokens[:vocab_size], scores, types)


def _pre_tokenizer(folder: Path, architecture: str) -> str:
    """llama.cpp's name for the text splitting before BPE: GPT-2's regex for a bare ByteLevel, else the family's own."""
    import json

    pre = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt2"
    return {"qwen2": "qwen2", "llama": "llama-bpe"}[architecture]


def write_gguf(
    path: Path, state_dict: dict, hf_config, architecture: str, gguf_type: str, folder: Path, tokenizer, chat_template: str, name: str
) -> int:
    """Write the GGUF file; returns how many tensors it holds."""
    import gguf

    writer = gguf.GGUFWriter(path, architecture)
    _add_metadata(writer, hf_config, architecture, gguf_type, name)
    vocab_size = state_dict["model.embed_tokens.weight"].shape[0]
    vocabulary = read_vocabulary(folder, tokenizer, vocab_size, architecture)
    writer.add_tokenizer_model(vocabulary.model)
    if vocabulary.pre:
        writer.add_tokenizer_pre(vocabulary.pre)
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_scores(vocabulary.scores)
    writer.add_token_types(vocabulary.types)
    special = gguf.SpecialVocab(folder, load_merges=vocabulary.model == "gpt2", n_vocab=vocab_size)
    special.chat_template = chat_template
    special.add_to_gguf(writer, quiet=True)
    count = 0
    for tensor in plan_tensors(state_dict, hf_config, architecture, gguf_type):
        encoded = tensor.encoded()
        writer.add_tensor(tensor.name, encoded, raw_shape=encoded.shape, raw_dtype=tensor.qtype)
        count += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return count


def _add_metadata(writer, hf_config, architecture: str, gguf_type: str, name: str) -> None:
    import gguf

    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // hf_config.num_attention_heads
    rope = getattr(hf_config, "rope_parameters", None) or {}
    writer.add_name(name)
    writer.add_context_length(hf_config.max_position_embeddings)
    writer.add_embedding_length(hf_config.hidden_size)
    writer.add_block_count(hf_config.num_hidden_layers)
    writer.add_feed_forward_length(hf_config.intermediate_size)
    writer.add_head_count(hf_config.num_attention_heads)
    writer.add_head_count_kv(getattr(hf_config, "num_key_value_heads", None) or hf_config.num_attention_heads)
    writer.add_layer_norm_rms_eps(hf_config.rms_norm_eps)
    writer.add_rope_freq_base(float(rope.get("rope_theta") or getattr(hf_config, "rope_theta", None) or 10000.0))
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_vocab_size(hf_config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType[FILE_TYPES[gguf_type]])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
