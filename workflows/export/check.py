"""The export checks itself: it reads back what it wrote and compares it with the model it came from.

- weights: every tensor in the written shards equals the merged model's (the bytes on disk are the bytes meant);
- logits: the written folder, loaded with plain ``AutoModelForCausalLM``, against base + unmerged adapters on fixed prompts;
- template: the written tokenizer's ``apply_chat_template`` against our template's rendering of fixed conversations;
- gguf: every tensor read back with gguf's reader against the merged weights encoded as meant (and the quantization error).

Each comparison records its largest difference; the report goes to ``export_check.json`` and a failed
comparison fails the export (exit 1) naming the largest difference.
"""

from dataclasses import dataclass, field
from pathlib import Path

from workflows.errors import UserError
from workflows.export.source import CHECK_CONVERSATIONS

LOGITS_TOLERANCE = {"float32": 1e-3, "float16": 5e-2, "bfloat16": 2e-1}
"""Max abs logit difference allowed per saved dtype: merging W + BA reorders float sums, nothing more."""


class ExportCheckFailed(UserError):
    """The written export differs from its source (exit 1: the export is not to be trusted)."""

    exit_code = 1


@dataclass
class CheckReport:
    passed: bool = True
    checks: list[dict] = field(default_factory=list)

    def add(self, name: str, passed: bool, max_abs_diff: float | None, where: str = "", tolerance: float | None = None, **details):
        self.checks.append(
            {"name": name, "passed": bool(passed), "max_abs_diff": max_abs_diff, "where": where, "tolerance": tolerance, **details}
        )
        self.passed = self.passed and bool(passed)

    def worst_failure(self) -> str:
        failed = [check for check in self.checks if not check["passed"]]
        worst = max(failed, key=lambda check: float("inf") if check["max_abs_diff"] is None else check["max_abs_diff"])
        return f"{worst['name']}: largest difference {worst['max_abs_diff']} at {worst['where'] or 'n/a'}" + (
            f" ({worst['error']})" if worst.get("error") else ""
        )

    def to_json(self) -> dict:
        return {"passed": self.passed, "checks": self.checks}


def check_weights(report: CheckReport, folder: Path, state_dict: dict) -> None:
    """Every written tensor equals the in-memory merged tensor (exactly: both are the same dtype)."""
    from safetensors import safe_open

    worst, where, seen = 0.0, "", set()
    try:
        for path in sorted(folder.glob("*.safetensors")):
            with safe_open(path, framework="pt") as shard:
                for name in shard.keys():
                    seen.add(name)
                    diff = _max_abs_diff(shard.get_tensor(name), state_dict[name])
                    if diff > worst or diff != diff:
                        worst, where = diff, f"{path.name}:{name}"
    except Exception as error:  # an unreadable shard is a failed check, not a crash
        report.add("weights", False, None, where, 0.0, error=f"{type(error).__name__}: {error}")
        return
    missing = sorted(set(state_dict) - seen - _tied_names(state_dict))
    report.add("weights", worst == 0.0 and not missing, worst, where, 0.0, tensors=len(seen), missing=missing[:5])


def _tied_names(state_dict: dict) -> set:
    """Tensors transformers does not save because they share storage with another (tied embeddings)."""
    pointers, tied = {}, set()
    for name, tensor in state_dict.items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in pointers:
            tied.add(name)
        pointers[key] = name
    return tied


def check_logits(report: CheckReport, folder: Path, prompt_ids: list[list[int]], reference: list, dtype: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    tolerance = LOGITS_TOLERANCE.get(dtype, 1e-3)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        worst, where = 0.0, ""
        with torch.no_grad():
            for index, (ids, expected) in enumerate(zip(prompt_ids, reference)):
                diff = _max_abs_diff(model(torch.tensor([ids])).logits[0].float(), expected)
                if diff > worst or diff != diff:
                    worst, where = diff, f"prompt {index}"
    except Exception as error:
        report.add("logits", False, None, "", tolerance, error=f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
        return
    report.add("logits", worst <= tolerance, worst, where, tolerance, prompts=len(prompt_ids))


def check_template(report: CheckReport, folder: Path, template) -> None:
    """The written tokenizer renders our check conversations exactly as the run's template does."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    mismatches = []
    for index, conversation in enumerate(CHECK_CONVERSATIONS):
        for generation_prompt in (True, False) if conversation[-1]["role"] == "user" else (False,):
            expected = template.render(conversation, add_generation_prompt=generation_prompt)
            written = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt)
            if written != expected:
                mismatches.append({"conversation": index, "expected": expected, "written": written})
    where = f"conversation {mismatches[0]['conversation']}" if mismatches else ""
    report.add("chat_template", not mismatches, float(len(mismatches)), where, 0.0, mismatches=mismatches[:2])


def check_gguf(report: CheckReport, path: Path, planned: list, metadata: dict) -> None:
    """The file's tensors (names, shapes, types, bytes) and key metadata, read back with gguf's reader."""
    import gguf
    import numpy as np

    try:
        reader = gguf.GGUFReader(path)
        by_name = {tensor.name: tensor for tensor in reader.tensors}
        worst, where, quantization_error = 0.0, "", 0.0
        for tensor in planned:
            stored = by_name.get(tensor.name)
            if stored is None or stored.tensor_type != tensor.qtype:
                report.add("gguf", False, None, tensor.name, 0.0, error="missing or of another type")
                return
            read = gguf.quants.dequantize(np.asarray(stored.data), stored.tensor_type).reshape(tensor.values.shape)
            meant = gguf.quants.dequantize(np.asarray(tensor.encoded()), tensor.qtype).reshape(tensor.values.shape)
            diff = float(np.nanmax(np.abs(read - meant))) if read.size else 0.0
            if np.isnan(read).any():
                diff = float("nan")
            if diff > worst or diff != diff:
                worst, where = diff, tensor.name
            quantization_error = max(quantization_error, float(np.max(np.abs(read - tensor.values))) if read.size else 0.0)
        problems = [key for key, value in metadata.items() if _field_value(reader, key) != value]
    except Exception as error:
        report.add("gguf", False, None, "", 0.0, error=f"{type(error).__name__}: {error}")
        return
    extra = sorted(set(by_name) - {tensor.name for tensor in planned})
    passed = worst == 0.0 and not problems and not extra
    report.add("gguf", passed, worst, where, 0.0, tensors=len(by_name), quantization_max_abs_error=quantization_error,
               metadata_mismatches=problems, unexpected_tensors=extra[:5])  # fmt: skip


def _field_value(reader, key: str):
    field_ = reader.get_field(key)
    return None if field_ is None else field_.contents()


def _max_abs_diff(actual, expected) -> float:
    if tuple(actual.shape) != tuple(expected.shape):
        return float("inf")
    if actual.numel() == 0:
        return 0.0
    return float((actual.float() - expected.float().to(actual.device)).abs().max())
