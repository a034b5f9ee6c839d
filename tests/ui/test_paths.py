"""Typed paths stay inside the allowed roots; run names and model ids cannot smuggle paths."""

import os
from pathlib import Path

import pytest

from llamaboard.models import check_model
from llamaboard.paths import PathNotAllowedError, Workspace, allowed_roots, confine, validate_run_name


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    (tmp_path / "secret" / "model").mkdir(parents=True)
    (workdir / "escape").symlink_to(tmp_path / "secret")
    (workdir / "inside_link").symlink_to(workdir / "data")
    return allowed_roots(workdir, {})


TRAVERSALS = [
    "../secret",
    "data/../../secret",
    "/etc",
    "/etc/passwd",
    "escape",  # a symlink inside the workdir pointing outside
    "escape/file.json",
    "~",
    "~/.ssh",
    "%2e%2e/secret",
    "..%2fsecret",
    "data%00/../../secret",
    "data\x00",
    "./../secret",
    "data/./../../../secret",
    "",
]


@pytest.mark.parametrize("typed", TRAVERSALS)
def test_traversal_attempts_are_refused_with_a_reason(roots, typed):
    with pytest.raises(PathNotAllowedError) as error:
        confine(typed, roots, "dataset_dir")
    assert "dataset_dir" in str(error.value)


@pytest.mark.parametrize("typed", ["data", "./data", "data/../data", "inside_link"])
def test_paths_inside_the_workdir_resolve_there(roots, typed):
    assert confine(typed, roots).is_relative_to(roots[0])


def test_absolute_path_inside_an_allowed_root_is_accepted(roots):
    assert confine(str(roots[0] / "data"), roots) == roots[0] / "data"


def test_extra_roots_come_from_llamaboard_allowed_paths(tmp_path):
    extra = tmp_path / "models"
    extra.mkdir()
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path / "w"), "LLAMABOARD_ALLOWED_PATHS": f"{extra}{os.pathsep}"})
    assert workspace.confine(str(extra / "m"), "model path") == extra / "m"
    with pytest.raises(PathNotAllowedError):
        workspace.confine(str(tmp_path), "model path")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "", "a b", "a\x00b", "x" * 101, "~root", "%2e%2e"])
def test_bad_run_names_are_refused(name):
    with pytest.raises(PathNotAllowedError):
        validate_run_name(name)


def test_good_run_name_is_kept():
    assert validate_run_name(" train_2025-01-01-10-00-00 ") == "train_2025-01-01-10-00-00"


def test_model_hub_ids_pass_and_model_paths_are_confined(roots):
    assert check_model("Qwen/Qwen3-0.6B", roots) == "Qwen/Qwen3-0.6B"
    assert check_model("llamaboard-tiny", roots) == "llamaboard-tiny"
    assert check_model("data", roots) == str(roots[0] / "data")
    for typed in ("../secret", "/etc", "~/models", "escape", "escape/model", "..%2fsecret"):
        with pytest.raises(PathNotAllowedError):
            check_model(typed, roots)
