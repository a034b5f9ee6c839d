"""Load, validate and write run configs (flat YAML with LLaMA-Factory's keys)."""

from workflows.config.loader import (
    RunConfig,
    field_help,
    format_help,
    load_config,
    parse_overrides,
)
from workflows.config.schema import BUILTIN_TINY_MODEL, GROUPS

__all__ = [
    "BUILTIN_TINY_MODEL",
    "GROUPS",
    "RunConfig",
    "field_help",
    "format_help",
    "load_config",
    "parse_overrides",
]
