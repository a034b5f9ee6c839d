"""Turn a flat YAML file plus ``key=value`` overrides into a validated RunConfig.

Every failure is a ConfigError that names the key, what was expected, and the
nearest valid key when the name looks like a typo.
"""

import difflib
import textwrap
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError

from workflows.config.legacy_keys import resolve_legacy_keys
from workflows.config.method_rules import model_method_problems, stage_problems
from workflows.config.schema import (
    GROUPS,
    DataArgs,
    EvaluationArgs,
    ExportArgs,
    FinetuningArgs,
    GenerationArgs,
    ModelArgs,
    PassThroughArgs,
    RLHFArgs,
    TrainingArgs,
)
from workflows.errors import ConfigError

KEY_TO_GROUP: dict[str, str] = {key: group for group, model in GROUPS.items() for key in model.model_fields}


class RunConfig(BaseModel):
    """All groups of one run. Read as ``cfg.training.learning_rate``; write with ``to_flat_dict``."""

    model: ModelArgs = ModelArgs()
    data: DataArgs = DataArgs()
    finetuning: FinetuningArgs = FinetuningArgs()
    training: TrainingArgs = TrainingArgs()
    generation: GenerationArgs = GenerationArgs()
    evaluation: EvaluationArgs = EvaluationArgs()
    export: ExportArgs = ExportArgs()
    rlhf: RLHFArgs = RLHFArgs()
    passthrough: PassThroughArgs = PassThroughArgs()

    @classmethod
    def from_flat_dict(cls, values: dict[str, Any], source: str = "config") -> "RunConfig":
        grouped: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
        values = resolve_legacy_keys(values, set(KEY_TO_GROUP), source)
        for key, value in values.items():
            if key not in KEY_TO_GROUP:
                raise ConfigError(_unknown_key_message(key, source))
            grouped[KEY_TO_GROUP[key]][key] = value
        try:
            config = cls(**grouped)
        except ValidationError as error:
            raise ConfigError(_validation_message(error, source, values)) from None
        check_combinations(config, source)
        return config

    def to_flat_dict(self, only_set: bool = False) -> dict[str, Any]:
        """Flat key -> value, as in the YAML; ``only_set`` drops keys left at their defaults."""
        flat: dict[str, Any] = {}
        for group in GROUPS:
            flat.update(getattr(self, group).model_dump(exclude_unset=only_set))
        return flat

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some flat keys changed, validated like a loaded file."""
        values = self.to_flat_dict(only_set=True)
        values.update(changes)
        return RunConfig.from_flat_dict(values)

    def write_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_flat_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` words; values are read as YAML scalars (``1e-4``, ``true``, ``null``)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"Cannot read the override `{pair}`: write it as key=value, e.g. learning_rate=1e-4.")
        overrides[key] = _parse_scalar(raw)
    return overrides


def load_config(path: Optional[str | Path] = None, overrides: Iterable[str] | dict[str, Any] = ()) -> RunConfig:
    """Read a YAML config (optional) and apply overrides; raises ConfigError on any problem."""
    values: dict[str, Any] = {}
    source = "the command line"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist. Pass the path of a YAML file, e.g. examples/tiny_lora_sft.yaml.")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"Config file {path} is not valid YAML: {error}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {path} must be a mapping of key: value lines, not a {type(loaded).__name__}.")
        values.update(loaded)
    values.update(overrides if isinstance(overrides, dict) else parse_overrides(overrides))
    _normalise_lists(values)
    _restore_the_word_no(values)
    return RunConfig.from_flat_dict(values, source)


def check_combinations(config: RunConfig, source: str = "config") -> None:
    """Reject settings that are valid alone but impossible together."""
    model, data, ft, train = config.model, config.data, config.finetuning, config.training
    problems = []
    if model.quantization_bit is not None and ft.finetuning_type != "lora":
        problems.append(
            f"`quantization_bit: {model.quantization_bit}` needs `finetuning_type: lora` (QLoRA), but it is `{ft.finetuning_type}`. "
            "Quantized weights cannot be trained directly: set finetuning_type to lora or remove quantization_bit."
        )
    if model.quantization_bit is not None and ft.pissa_init:
        problems.append("`pissa_init` cannot start from quantized weights: remove `quantization_bit` or `pissa_init`.")
    if ft.use_dora and ft.pissa_init:
        problems.append("`use_dora` and `pissa_init` cannot be combined: choose one.")
    if train.bf16 and train.fp16:
        problems.append("`bf16` and `fp16` are both true: choose one mixed-precision mode.")
    has_eval_data = data.val_size > 0 or data.eval_dataset is not None
    if train.eval_strategy != "no" and not has_eval_data:
        problems.append(f"`eval_strategy: {train.eval_strategy}` needs evaluation data: set `val_size` (e.g. 0.1) or `eval_dataset`.")
    if (train.load_best_model_at_end or train.early_stopping_steps) and train.eval_strategy == "no":
        key = "load_best_model_at_end" if train.load_best_model_at_end else "early_stopping_steps"
        problems.append(f"`{key}` needs evaluation during training: set `eval_strategy: steps` and `val_size`.")
    if train.load_best_model_at_end and train.save_strategy != train.eval_strategy:
        problems.append(
            f"`load_best_model_at_end` needs `save_strategy` equal to `eval_strategy` "
            f"(now {train.save_strategy} and {train.eval_strategy})."
        )
    problems.extend(_rlhf_problems(config))
    problems.extend(_engine_problems(config))
    problems.extend(model_method_problems(config))
    problems.extend(stage_problems(config))
    problems.extend(_optimizer_method_problems(config))
    if data.val_size >= 1 and data.val_size != int(data.val_size):
        problems.append(f"`val_size: {data.val_size}` must be a fraction below 1 or a whole number of examples.")
    if problems:
        raise ConfigError(f"Invalid combination in {source}: " + " ".join(problems))


def _rlhf_problems(config: RunConfig) -> list[str]:
    """The alignment keys that contradict the stage (checked before any model loads)."""
    stage, rlhf = config.finetuning.stage, config.rlhf
    problems = []
    if stage == "ppo" and not rlhf.reward_model:
        problems.append(
            "`stage: ppo` needs `reward_model`: the folder of a finished rm run (train one with stage: rm on a preference dataset)."
        )
    if stage == "ppo" and rlhf.reward_model_type == "api":
        problems.append("`reward_model_type: api` is not available in this version: use lora or full with an rm run folder.")
    if stage == "dpo" and rlhf.pref_loss in ("orpo", "simpo") and rlhf.ref_model:
        problems.append(f"`pref_loss: {rlhf.pref_loss}` uses no reference model: remove `ref_model`.")
    return problems


# The base optimizers (`optim`) each low-rank method has a projected version of (the method keeps that choice).
LOW_RANK_BASE_OPTIMS = {
    "use_galore": ("adamw_torch", "adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor"),
    "use_apollo": ("adamw_torch",),
}


def _optimizer_method_problems(config: RunConfig) -> list[str]:
    """GaLore, APOLLO, BAdam, Adam-mini and Muon: each replaces the optimizer, so one at a time, and their own limits."""
    ft, train = config.finetuning, config.training
    chosen = [key for key in ("use_galore", "use_apollo", "use_badam", "use_adam_mini", "use_muon") if getattr(ft, key)]
    problems = []
    if len(chosen) > 1:
        problems.append(f"{', '.join(f'`{key}`' for key in chosen)} each replace the optimizer: keep one of them true.")
    if chosen and ft.loraplus_lr_ratio:
        problems.append(f"`{chosen[0]}` and `loraplus_lr_ratio` each build their own optimizer: remove one of them.")
    for key in chosen:
        method = key.removeprefix("use_")
        if key != "use_muon" and ft.finetuning_type == "lora":
            problems.append(
                f"`{key}` trains the model's own weights, not LoRA adapters: set `finetuning_type: full` (or freeze), or remove `{key}`."
            )
        if key in LOW_RANK_BASE_OPTIMS and train.optim not in LOW_RANK_BASE_OPTIMS[key]:
            problems.append(f"`{key}` works with `optim` {' or '.join(LOW_RANK_BASE_OPTIMS[key])}, not `{train.optim}`.")
        if key in LOW_RANK_BASE_OPTIMS and (train.deepspeed or config.passthrough.fsdp):
            problems.append(f"`{key}` projects whole weight matrices, which DeepSpeed and FSDP shard: remove `deepspeed` / `fsdp`.")
        if getattr(ft, f"{method}_layerwise", False) and train.gradient_accumulation_steps != 1:
            problems.append(
                f"`{method}_layerwise` steps each weight during the backward pass, so it cannot accumulate gradients: "
                f"set `gradient_accumulation_steps: 1` (now {train.gradient_accumulation_steps}) or `{method}_layerwise: false`."
            )
        if getattr(ft, f"{method}_layerwise", False) and train.nproc_per_node > 1:
            problems.append(f"`{method}_layerwise` runs in one process only: set `nproc_per_node: 1` or `{method}_layerwise: false`.")
    if ft.use_badam and ft.badam_switch_interval == 0:
        problems.append("`badam_switch_interval: 0` is not a number of steps: use 1 or more, or -1 to stay on the first block.")
    if ft.use_badam and train.nproc_per_node > 1 and (ft.badam_mode == "ratio" or not train.deepspeed):
        problems.append(
            "BAdam runs in one process, or in several only in layer mode under DeepSpeed ZeRO-3: "
            "set `nproc_per_node: 1`, or `badam_mode: layer` with a ZeRO-3 `deepspeed` config."
        )
    return problems


def _engine_problems(config: RunConfig) -> list[str]:
    """DeepSpeed and FSDP: one engine at a time, and FSDP's settings only with FSDP."""
    deepspeed, fsdp, fsdp_config = config.training.deepspeed, config.passthrough.fsdp, config.passthrough.fsdp_config
    problems = []
    if deepspeed and fsdp:
        problems.append("`deepspeed` and `fsdp` each shard the training state their own way: keep one of them.")
    if fsdp_config and not fsdp:
        problems.append("`fsdp_config` is read only with `fsdp: true`: set `fsdp: true` too, or remove `fsdp_config`.")
    return problems


def field_help(key: str) -> str:
    group = GROUPS[KEY_TO_GROUP[key]]
    return group.model_fields[key].description or ""


def format_help(groups: Iterable[str] = tuple(GROUPS)) -> str:
    """The key reference shown by ``--help``, generated from the schema."""
    lines = []
    for group in groups:
        model = GROUPS[group]
        lines.append(f"\n{group} keys ({model.__doc__.strip()})")
        if model is PassThroughArgs:  # dozens of fields documented by transformers: names only
            names = ", ".join(model.model_fields)
            text = f"passed to TrainingArguments unchanged: {names}"
            lines.extend(textwrap.wrap(text, width=100, initial_indent="  ", subsequent_indent="  "))
            continue
        for key, info in model.model_fields.items():
            head = f"  {key} ({_type_name(info.annotation)}, default {info.default!r})"
            lines.append(head)
            lines.extend(textwrap.wrap(info.description or "", width=100, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _parse_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return raw


def _restore_the_word_no(values: dict[str, Any]) -> None:
    """YAML 1.1 reads a bare ``no`` as false, so ``eval_strategy: no`` arrives as False: a key whose choices include "no" gets the word."""
    for key, value in values.items():
        if value is False and key in KEY_TO_GROUP:
            inner, _ = split_optional(GROUPS[KEY_TO_GROUP[key]].model_fields[key].annotation)
            if typing.get_origin(inner) is typing.Literal and "no" in typing.get_args(inner):
                values[key] = "no"


def _normalise_lists(values: dict[str, Any]) -> None:
    """LLaMA-Factory accepts comma-separated strings or YAML lists for name lists; we store strings."""
    for key in (
        "dataset",
        "eval_dataset",
        "adapter_name_or_path",
        "lora_target",
        "additional_target",
        "freeze_trainable_modules",
        "freeze_extra_modules",
        "oft_target",
        "galore_target",
        "apollo_target",
    ):
        if isinstance(values.get(key), list):
            values[key] = ",".join(str(item) for item in values[key])


def _unknown_key_message(key: str, source: str) -> str:
    nearest = difflib.get_close_matches(key, list(KEY_TO_GROUP), n=1, cutoff=0.6)
    hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
    return f"Unknown key `{key}` in {source}.{hint} Run `python -m workflows train --help` to list every key."


def _validation_message(error: ValidationError, source: str, values: dict[str, Any]) -> str:
    parts = []
    for problem in error.errors():
        key = str(problem["loc"][-1]) if problem["loc"] else "?"
        if key not in KEY_TO_GROUP:  # pydantic reports union members by type name; find the key itself
            key = next((str(loc) for loc in problem["loc"] if str(loc) in KEY_TO_GROUP), key)
        info = GROUPS[KEY_TO_GROUP[key]].model_fields[key] if key in KEY_TO_GROUP else None
        expected = _type_name(info.annotation) if info else "a valid value"
        parts.append(
            (f"`{key}` is empty in {source}" if values.get(key) is None else f"`{key}` has the value {values.get(key)!r} in {source}")
            + f", but it must be {expected} ({problem['msg'].lower()})."
            + (f" {key}: {info.description}" if info and info.description else "")
        )
    unique = list(dict.fromkeys(parts))
    return "Invalid config value: " + " ".join(unique)


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, True)`` for ``Optional[X]``, ``Union[X, None]`` and ``X | None``; ``(annotation, False)`` otherwise."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType) or type(None) not in args:
        return annotation, False
    rest = tuple(arg for arg in args if arg is not type(None))
    return (rest[0] if len(rest) == 1 else typing.Union[rest]), True


def _type_name(annotation: Any) -> str:
    inner, optional = split_optional(annotation)
    if optional:
        return _type_name(inner) + " or empty"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is list:
        return f"a list of {_type_name(args[0])}"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(annotation, str(annotation))
