"""Confine paths typed into the UI to the allowed roots; validate run names.

A UI reachable from other machines (a share link, a 0.0.0.0 bind) must not let
a visitor read or write anywhere on disk. Every typed path is taken literally
(no ``~`` expansion, no URL decoding), resolved with symlinks followed, and
must land inside the workdir or a root listed in ``LLAMABOARD_ALLOWED_PATHS``.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from workflows.errors import UserError

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class PathNotAllowedError(UserError):
    """A typed path points outside the allowed roots or is malformed."""


def allowed_roots(workdir: Path, environ: dict[str, str] = os.environ) -> list[Path]:
    """The workdir plus every folder in ``LLAMABOARD_ALLOWED_PATHS`` (os.pathsep-separated)."""
    extra = [entry for entry in environ.get("LLAMABOARD_ALLOWED_PATHS", "").split(os.pathsep) if entry.strip()]
    return [workdir.resolve()] + [Path(entry).expanduser().resolve() for entry in extra]


def confine(typed: str, roots: list[Path], what: str = "path") -> Path:
    """Resolve ``typed`` (relative to the first root) and refuse anything outside ``roots``."""
    text = (typed or "").strip()
    if not text:
        raise PathNotAllowedError(f"The {what} is empty: type a folder inside {roots[0]}.")
    if "\x00" in text:
        raise PathNotAllowedError(f"The {what} contains a null byte.")
    if text.startswith("~"):
        raise PathNotAllowedError(f"The {what} `{text}` starts with `~`; home folders are not expanded. Type a path inside {roots[0]}.")
    if unquote(text) != text:
        raise PathNotAllowedError(f"The {what} `{text}` looks URL-encoded (%xx); type the plain path instead.")
    candidate = Path(text)
    resolved = (candidate if candidate.is_absolute() else roots[0] / candidate).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise PathNotAllowedError(
            f"The {what} `{text}` resolves to {resolved}, outside the allowed folders ({allowed}). "
            "Add a folder to LLAMABOARD_ALLOWED_PATHS to allow it."
        )
    return resolved


def validate_run_name(name: str) -> str:
    """A run name becomes one folder name: letters, digits, `.`, `_`, `-`; no separators, no leading dot."""
    name = (name or "").strip()
    if not RUN_NAME_PATTERN.match(name):
        raise PathNotAllowedError(
            f"The run name `{name}` is not allowed: use 1-100 letters, digits, `.`, `_` or `-`, starting with a letter or digit."
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """Where this UI keeps ``saves/`` and ``data/``, and which folders typed paths may reach."""

    workdir: Path
    roots: tuple[Path, ...]

    @classmethod
    def from_env(cls, environ: dict[str, str] = os.environ) -> "Workspace":
        workdir = Path(environ.get("LLAMABOARD_WORKDIR") or os.getcwd()).expanduser().resolve()
        return cls(workdir, tuple(allowed_roots(workdir, environ)))

    @property
    def saves_dir(self) -> Path:
        return self.workdir / "saves"

    def confine(self, typed: str, what: str = "path") -> Path:
        return confine(typed, list(self.roots), what)
