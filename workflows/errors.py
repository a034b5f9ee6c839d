"""Errors a user can cause and fix.

Each is rendered by the CLI (and the UI) as one clear paragraph with exit
code 2; a traceback means a bug in LlamaBoard, not in the user's input.
"""


class UserError(Exception):
    """Base class: the message says what is wrong, where, and what to do."""

    exit_code = 2


class ConfigError(UserError):
    """A config key or value is unknown, mistyped or contradicts another."""


class DatasetError(UserError):
    """A dataset file, `dataset_info.json` entry or record cannot be used."""


class ModelError(UserError):
    """A model, tokenizer or adapter cannot be found or loaded."""


class TrainingDiverged(UserError):
    """The loss stopped being a number (too high a learning rate, fp16 overflow ...): the run cannot go on."""
