"""GPU check: tokens/s, MFU and peak GPU memory of LlamaBoard's training path against a plain transformers+peft loop.

    python bench/gpu_check.py            # one H200, about 5 minutes, no network
    python bench/gpu_check.py --smoke    # the same code paths on CPU: tiny shapes, float32, two steps a row

Models are randomly initialised from config (the shapes of Qwen2-0.5B and Llama-3-8B, no download) and the
data is synthetic: token ids drawn at random, lengths uniform between 1/16 of the sequence length (2048) and
all of it. Rows: LoRA on both shapes, full fine-tuning on the 0.5B one, QLoRA 4-bit on the 0.5B one; bf16
mixed precision, sdpa attention, padded batches (each example padded to the longest of its batch) and
padding-free ones (the batch's examples flattened into one row, ``position_ids`` restarting per example, so
attention never crosses examples), and LlamaBoard's default choosing between them batch by batch; then its
speed options on the padding-free rows: ``flash_attn: fa2``, ``enable_liger_kernel: true``, and
``optim: adamw_torch_fused`` for full fine-tuning.
A row that cannot run on the machine is listed as skipped with the reason (LlamaBoard's own error message
for its rows); a row that fails prints its traceback, the rest still run, and the exit code is 1.

"plain" is what a user writes with transformers and peft alone, in this same process: the model from
config, ``get_peft_model`` (LoRA r8 on all linear layers, as ours), ``torch.optim.AdamW``, bf16 autocast,
gradient clipping at 1.0, batches padded by hand or flattened by transformers' ``DataCollatorWithFlattening``.
"ours" is LlamaBoard's training path from the model on: ``load_config`` -> ``prepare_for_training`` (adapters,
Liger, fp32 trainable weights) -> ``LlamaBoardTrainer`` with ``training_arguments`` and the collator that
``choose_collator`` picks for the row's ``padding_free``: false (padded), true (padding-free) or unset ("auto",
LlamaBoard's default: each batch flattened where that costs less than padding it). Only the model's weights
(from config instead of a folder, but with our attention choice and speed-up checks; QLoRA loads a saved random
model through our ``load_model``) and the tokenised dataset are not ours. So "ours padded" against "plain
padded" is the cost of our Trainer path, and "ours auto" and the option rows are what a LlamaBoard user gains.

tokens/s counts real (non-padding) input tokens over the timed steps (after the warm-up ones; the Trainer's
own count for ours). MFU = model FLOPs per token × tokens/s ÷ 989e12 (dense bf16 peak of an H100/H200 SXM),
with PaLM's formula (appendix B): 6·N per token plus attention 12·L·d·s, where N counts the weights in
matrix products (the blocks and the output head, not the embedding lookup), L layers, d = heads × head
dim, and s each example's own length (only the attention an example needs, padded or not). The 6·N is the
convention for training whatever trains: LoRA really does about 4·N (frozen weights get no gradient), so
its MFU reads high by that much. Peak memory is ``torch.cuda.max_memory_allocated`` of the row.

On the GPU machine (torch, transformers, accelerate and peft only, no network) the rows that need more say
which wheels to ship (WHEELS below; the script prints the missing ones first). Here, once, in the repo root:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 \
      typing-inspection==0.4.2 liger-kernel==0.8.5 bitsandbytes==0.50.2 transformers==5.23.0 peft==0.21.2

(transformers and peft as pinned in requirements.txt, over the machine's older ones), then the device run, with
``carry: [".whl"]`` and ``timeout_s: 600`` (about 61 MB of wheels):

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
      .whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 timeout 540 python3 bench/gpu_check.py \
      2>&1 | tee $OUT/gpu_check.txt
"""

import argparse
import gc
import importlib.util
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from torch.nn.utils.rnn import pad_sequence
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    BitsAndBytesConfig,
    DataCollatorWithFlattening,
    PrinterCallback,
    TrainerCallback,
)
from transformers.utils.logging import disable_progress_bar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
try:  # LlamaBoard's training path; without its wheels (WHEELS) the ours rows are skipped and the plain ones still run
    from workflows.config import load_config
    from workflows.errors import ModelError
    from workflows.features.padding_free import choose_collator
    from workflows.models.finetuning import prepare_for_training
    from workflows.models.loader import ATTENTION_IMPLEMENTATIONS, load_model
    from workflows.models.speedups import check_speedups
    from workflows.train.trainer import LlamaBoardTrainer, compute_dtype, training_arguments

    OURS_MISSING = None
except ModuleNotFoundError as error:
    OURS_MISSING = f"LlamaBoard's code does not import here ({error}): ship the wheels listed above"

PEAK_FLOPS = 989e12
PAD_ID = 0
IGNORE_INDEX = -100
WHEELS = {
    "pydantic": ("pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2", "every ours row"),
    "liger_kernel": ("liger-kernel==0.8.5", "the Liger rows"),
    "bitsandbytes": ("bitsandbytes==0.50.2", "the QLoRA rows"),
    "flash_attn": ("flash-attn (no wheel on PyPI: built from source against the machine's torch and CUDA)", "the FA2 rows"),
}
"""module -> (the wheels that provide it, the rows that need it)."""

QWEN2_05B = dict(
    model_type="qwen2",
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    tie_word_embeddings=True,
)
LLAMA3_8B = dict(
    model_type="llama",
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=128256,
    tie_word_embeddings=False,
)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=512)


@dataclass(frozen=True)
class Profile:
    device: str
    dtype: torch.dtype
    seq_len: int
    warmup_steps: int
    steps: int
    shapes: dict
    """shape name -> (config keys, examples per batch)."""


FULL = Profile("cuda", torch.bfloat16, 2048, 3, 20, {"qwen2-0.5b": (QWEN2_05B, 8), "llama3-8b": (LLAMA3_8B, 4)})
SMOKE = Profile("cpu", torch.float32, 64, 1, 1, {"qwen2-0.5b": ({**QWEN2_05B, **TINY}, 2), "llama3-8b": ({**LLAMA3_8B, **TINY}, 2)})


@dataclass(frozen=True)
class Case:
    shape: str
    method: str
    """lora, full or qlora."""
    runner: str
    """plain (transformers + peft) or ours (LlamaBoard's training path)."""
    batching: str
    """padded, padding-free, or auto (ours only: padding_free unset, flattened batch by batch where it pays)."""
    options: tuple = ()
    """LlamaBoard config keys of the row (key=value), for ours only."""


def family(shape: str, method: str, options: tuple) -> list[Case]:
    """Plain and ours, padded and padding-free; ours auto; then each option on ours padding-free."""
    grid = [Case(shape, method, runner, batching) for batching in ("padded", "padding-free") for runner in ("plain", "ours")]
    return [*grid, Case(shape, method, "ours", "auto")] + [Case(shape, method, "ours", "padding-free", (option,)) for option in options]


FA2 = "flash_attn=fa2"
LIGER = "enable_liger_kernel=true"
CASES = [
    *family("qwen2-0.5b", "lora", (FA2,)),
    *family("llama3-8b", "lora", (FA2,)),
    *family("qwen2-0.5b", "full", (FA2, "optim=adamw_torch_fused")),
    Case("qwen2-0.5b", "qlora", "plain", "padded"),
    Case("qwen2-0.5b", "qlora", "ours", "padded"),
    # last: Liger replaces classes and functions of transformers' modeling modules for the rest of the process
    Case("qwen2-0.5b", "lora", "ours", "padding-free", (LIGER,)),
    Case("llama3-8b", "lora", "ours", "padding-free", (LIGER,)),
    Case("qwen2-0.5b", "full", "ours", "padding-free", (LIGER,)),
]


class Skipped(Exception):
    """The row cannot run on this machine; the message says why."""


@dataclass
class SyntheticTokenizer:
    """What our loader (its size: no resize) and the Trainer (the pad id: non-padding tokens counted) read from a tokenizer."""

    vocab_size: int
    pad_token_id: int = PAD_ID

    def __len__(self) -> int:
        return self.vocab_size


def model_config(keys: dict):
    return AutoConfig.for_model(**keys)


def synthetic_examples(vocab_size: int, seq_len: int, count: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(seq_len // 16, seq_len + 1, (count,), generator=generator).tolist()
    examples = []
    for length in lengths:
        ids = torch.randint(PAD_ID + 1, vocab_size, (length,), generator=generator).tolist()
        examples.append({"input_ids": ids, "labels": list(ids)})
    return examples


def flops_per_token(config, examples: list[dict]) -> float:
    """PaLM's training FLOPs per token (6·N + attention 12·L·d·s), averaged over the examples."""
    hidden, layers, heads = config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    attention_width, kv_width = heads * head_dim, config.num_key_value_heads * head_dim
    per_layer = hidden * (attention_width + 2 * kv_width) + attention_width * hidden + 3 * hidden * config.intermediate_size
    matmul_weights = layers * per_layer + hidden * config.vocab_size
    lengths = [len(example["input_ids"]) for example in examples]
    return (6 * matmul_weights * sum(lengths) + 12 * layers * attention_width * sum(s * s for s in lengths)) / sum(lengths)


def synchronize(profile: Profile) -> None:
    if profile.device == "cuda":
        torch.cuda.synchronize()


def new_model(config, profile: Profile, dtype, attention: str):
    """A randomly initialised model, built directly on the profile's device."""
    with torch.device(profile.device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention)


def save_base_model(config, profile: Profile, folder: Path) -> None:
    """The random model saved once, for the QLoRA rows (bitsandbytes quantizes while loading from a folder)."""
    if not (folder / "config.json").is_file():
        new_model(config, profile, profile.dtype, "sdpa").save_pretrained(folder)


# ---- plain transformers + peft --------------------------------------------------------------------------


def plain_padded(features: list[dict]) -> dict:
    ids = [torch.tensor(feature["input_ids"]) for feature in features]
    return {
        "input_ids": pad_sequence(ids, batch_first=True, padding_value=PAD_ID),
        "labels": pad_sequence([torch.tensor(feature["labels"]) for feature in features], batch_first=True, padding_value=IGNORE_INDEX),
        "attention_mask": pad_sequence([torch.ones_like(row) for row in ids], batch_first=True, padding_value=0),
    }


def plain_model(case: Case, config, profile: Profile, workdir: Path):
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    if case.method == "full":
        return new_model(config, profile, torch.float32, "sdpa")  # fp32 weights under bf16 autocast: mixed precision
    if case.method == "lora":
        return get_peft_model(new_model(config, profile, profile.dtype, "sdpa"), lora)
    if profile.device != "cuda" or importlib.util.find_spec("bitsandbytes") is None:
        raise Skipped("QLoRA needs bitsandbytes and a CUDA GPU")
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=profile.dtype,
        bnb_4bit_quant_storage=profile.dtype,
    )
    model = AutoModelForCausalLM.from_pretrained(
        workdir / "base",
        quantization_config=quantization,
        dtype=profile.dtype,
        device_map={"": 0},
        attn_implementation="sdpa",
    )
    return get_peft_model(prepare_model_for_kbit_training(model, use_gradient_checkpointing=False), lora)


def run_plain(case: Case, config, profile: Profile, examples: list[dict], workdir: Path) -> tuple[float, int]:
    """Seconds and real tokens of the timed steps of a hand-written training loop."""
    model = plain_model(case, config, profile, workdir)
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    collate = plain_padded if case.batching == "padded" else DataCollatorWithFlattening(return_tensors="pt")
    batch_size = profile.shapes[case.shape][1]
    batches = [examples[start : start + batch_size] for start in range(0, len(examples), batch_size)]
    autocast = torch.autocast(profile.device, dtype=torch.bfloat16, enabled=profile.dtype == torch.bfloat16)
    start, tokens = 0.0, 0
    for step, features in enumerate(batches, start=1):
        batch = {key: value.to(profile.device) for key, value in collate(features).items()}
        with autocast:
            loss = model(**batch, use_cache=False).loss  # as ours: prepare_for_training turns the cache off
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step == profile.warmup_steps:
            synchronize(profile)
            start = time.perf_counter()
        elif step > profile.warmup_steps:
            tokens += sum(len(feature["input_ids"]) for feature in features)
    synchronize(profile)
    return time.perf_counter() - start, tokens


# ---- LlamaBoard's training path -------------------------------------------------------------------------


class TimedSteps(TrainerCallback):
    """Times the steps after the warm-up ones and counts their input tokens (the Trainer's non-padding count)."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.start = 0.0
        self.seconds = 0.0
        self.tokens_before = 0
        self.tokens = 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.profile.warmup_steps:
            synchronize(self.profile)
            self.start, self.tokens_before = time.perf_counter(), state.num_input_tokens_seen
        elif state.global_step == state.max_steps:
            synchronize(self.profile)
            self.seconds, self.tokens = time.perf_counter() - self.start, state.num_input_tokens_seen - self.tokens_before


def our_config(case: Case, profile: Profile, model_path: Path | None):
    keys = {
        "finetuning_type": "full" if case.method == "full" else "lora",
        "bf16": profile.dtype == torch.bfloat16,
        "per_device_train_batch_size": profile.shapes[case.shape][1],
        "max_steps": profile.warmup_steps + profile.steps,
        "save_strategy": "no",
        "learning_rate": 1e-5,
        "train_sampling_strategy": "sequential",  # the plain loop's batches in its order: every row times the same work
    }
    if case.method == "qlora":
        keys.update(quantization_bit=4, model_name_or_path=str(model_path))
    if case.batching != "auto":
        keys["padding_free"] = case.batching == "padding-free"
    return load_config(None, [*(f"{key}={value}" for key, value in keys.items()), *case.options])


def our_model(case: Case, run_config, config, profile: Profile):
    model_args = run_config.model
    if case.method == "qlora":
        model = load_model(model_args, SyntheticTokenizer(config.vocab_size), compute_dtype=compute_dtype(run_config))
    else:
        check_speedups(model_args)  # what load_model checks first
        model = new_model(config, profile, compute_dtype(run_config), ATTENTION_IMPLEMENTATIONS[model_args.flash_attn])
    return prepare_for_training(model, model_args, run_config.finetuning, gradient_checkpointing=False)


def run_ours(case: Case, config, profile: Profile, examples: list[dict], workdir: Path) -> tuple[float, int]:
    """Seconds and real tokens of the timed steps of LlamaBoard's Trainer."""
    if OURS_MISSING:
        raise Skipped(OURS_MISSING)
    try:
        run_config = our_config(case, profile, workdir / "base" if case.method == "qlora" else None)
        model = our_model(case, run_config, config, profile)
    except ModelError as error:
        raise Skipped(str(error)) from None
    timer = TimedSteps(profile)
    tokenizer = SyntheticTokenizer(config.vocab_size)
    trainer = LlamaBoardTrainer(
        model=model,
        args=training_arguments(run_config, workdir / "trainer", show_progress=False),
        train_dataset=examples,
        data_collator=choose_collator(run_config, model, PAD_ID, packed=False),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # its log lines would break up the table
    trainer.train()
    return timer.seconds, timer.tokens


# ---- the table ------------------------------------------------------------------------------------------


def missing_wheels() -> list[str]:
    return [f"{wheels}  ({rows})" for module, (wheels, rows) in WHEELS.items() if importlib.util.find_spec(module) is None]


def print_header(profile: Profile) -> None:
    device = torch.cuda.get_device_name() if profile.device == "cuda" else "CPU (smoke: tiny shapes, float32)"
    print(f"{device}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    print(f"sequence length {profile.seq_len}, {profile.warmup_steps} warm-up + {profile.steps} timed steps per row")
    missing = missing_wheels()
    print("Wheels to ship for the rows that need them:" if missing else "No wheels needed: every row can run.")
    for line in missing:
        print(f"  {line}")
    print()


COLUMNS = ("model", "method", "runner", "batching", "option", "tokens/s", "MFU", "peak GiB", "vs plain padded", "status")
WIDTHS = (11, 6, 6, 12, 24, 10, 7, 9, 15, 0)


def print_row(values: tuple) -> None:
    print("  ".join(str(value).ljust(width) for value, width in zip(values, WIDTHS)).rstrip(), flush=True)


@dataclass
class Result:
    status: str
    tokens_per_second: float | None = None
    mfu: float | None = None
    peak_gib: float | None = None


def run_case(case: Case, profile: Profile, workdir: Path) -> Result:
    """One row; a failure prints its traceback and the other rows still run."""
    keys, batch_size = profile.shapes[case.shape]
    config = model_config({**keys, "max_position_embeddings": max(profile.seq_len, 4096)})
    examples = synthetic_examples(config.vocab_size, profile.seq_len, (profile.warmup_steps + profile.steps) * batch_size)
    if case.method == "qlora":
        save_base_model(config, profile, workdir / "base")  # before the peak is measured: the row loads it quantized
    if profile.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runner = run_plain if case.runner == "plain" else run_ours
    try:
        seconds, tokens = runner(case, config, profile, examples, workdir)
    except Skipped as reason:
        return Result(f"skipped: {reason}")
    except Exception as error:  # a benchmark row that breaks (out of memory, an API the machine's versions lack) is reported
        traceback.print_exc()
        return Result(f"FAILED: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    finally:
        if profile.device == "cuda":  # the row's model and optimizer state leave the GPU before the next row
            gc.collect()
            torch.cuda.empty_cache()
    tokens_per_second = tokens / seconds
    peak = torch.cuda.max_memory_allocated() / 2**30 if profile.device == "cuda" else None
    return Result("ok", tokens_per_second, flops_per_token(config, examples) * tokens_per_second / PEAK_FLOPS, peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on CPU in float32, one timed step per row")
    profile = SMOKE if parser.parse_args(argv).smoke else FULL
    if profile.device == "cuda" and not torch.cuda.is_available():
        print("No CUDA GPU here: run with --smoke for the CPU check.", file=sys.stderr)
        return 2
    print_header(profile)
    gc.freeze()  # the imported libraries' objects: the collections after each row (ours, and accelerate's) skip them
    disable_progress_bar()
    print_row(COLUMNS)
    baselines: dict[tuple, float] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        for case in CASES:
            result = run_case(case, profile, Path(folder) / case.shape)
            failed |= result.status.startswith("FAILED")
            if case.runner == "plain" and case.batching == "padded" and result.tokens_per_second:
                baselines[case.shape, case.method] = result.tokens_per_second
            baseline = baselines.get((case.shape, case.method))
            print_row(
                (
                    case.shape,
                    case.method,
                    case.runner,
                    case.batching,
                    ",".join(case.options),
                    f"{result.tokens_per_second:,.0f}" if result.tokens_per_second else "",
                    f"{result.mfu:.1%}" if result.mfu is not None else "",
                    f"{result.peak_gib:.1f}" if result.peak_gib is not None else "",
                    f"{result.tokens_per_second / baseline:.2f}x" if result.tokens_per_second and baseline else "",
                    result.status,
                )
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
