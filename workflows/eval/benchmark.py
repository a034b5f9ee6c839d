"""Read a multiple-choice benchmark from local files in LLaMA-Factory's evaluation layout.

``task_dir/<bench>/mapping.json`` maps each subject to its display ``name`` and
``category`` (STEM, Social Sciences, Humanities, Other); the questions are CSV
files ``<split>/<subject>_<split>.csv`` (MMLU, C-Eval) or ``<split>/<subject>.csv``
(CMMLU). A task is ``<bench>_<split>``, with LLaMA-Factory's split names: ``test``,
``validation`` (folder ``val``); few-shot examples come from ``dev``.

The CSV dialects differ: MMLU has no header (question, A, B, C, D, answer);
C-Eval has ``id,question,A,B,C,D,answer[,explanation]`` and its test split has
no answer column; CMMLU has ``,Question,A,B,C,D,Answer``. Columns are found by
name when there is a header, by position otherwise.

Everything is checked before a model is loaded, so a bad task fails at once
and leaves no half-written result. A subject listed in mapping.json with no
file in the task's split is skipped (the shipped subsets hold a few subjects
of a full mapping); a subject whose split file exists but whose dev file is
missing (with ``n_shot`` > 0), a file without answers, or ``n_shot`` above the
dev rows is an error naming the file or key. Torch-free.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from workflows.errors import ConfigError, DatasetError

CHOICES = ("A", "B", "C", "D")
CATEGORIES = ("STEM", "Social Sciences", "Humanities", "Other")
SPLIT_FOLDERS = {"test": "test", "validation": "val", "val": "val"}
FEW_SHOT_FOLDER = "dev"
CHINESE_BENCHMARKS = ("ceval", "cmmlu")


@dataclass(frozen=True)
class Question:
    question: str
    choices: dict[str, str]  # letter -> text
    answer: Optional[str]  # a letter of CHOICES, None where the split hides it


@dataclass(frozen=True)
class Subject:
    key: str  # file name stem, e.g. abstract_algebra
    name: str  # display name, e.g. abstract algebra
    category: str
    questions: list[Question]
    dev: list[Question]


@dataclass(frozen=True)
class Benchmark:
    name: str  # mmlu, ceval, cmmlu, ...
    split: str  # test, validation
    folder: Path
    subjects: list[Subject]

    @property
    def question_count(self) -> int:
        return sum(len(subject.questions) for subject in self.subjects)


def parse_task(task: Optional[str]) -> tuple[str, str]:
    """``mmlu_test`` -> ("mmlu", "test"); a missing or malformed task is a ConfigError naming `task`."""
    bench, _, split = (task or "").rpartition("_")
    if not bench or split not in SPLIT_FOLDERS:
        raise ConfigError(
            f"`task: {task}` is not a benchmark task: write <benchmark>_<split> with split test or validation, "
            "e.g. mmlu_test, ceval_validation, cmmlu_test."
        )
    return bench, split


def default_lang(bench: str) -> str:
    return "zh" if bench in CHINESE_BENCHMARKS else "en"


def load_benchmark(task: Optional[str], task_dir: str, n_shot: int) -> Benchmark:
    """The task's subjects with their questions and dev examples, validated (see the module docstring)."""
    bench, split = parse_task(task)
    root = Path(task_dir)
    folder = root / bench
    mapping_path = folder / "mapping.json"
    if not folder.is_dir():
        known = sorted(path.parent.name for path in root.glob("*/mapping.json")) if root.is_dir() else []
        where = f"; task_dir holds {', '.join(known)}" if known else f"; `task_dir: {task_dir}` holds no benchmark folders"
        raise ConfigError(f"Unknown task `{task}`: there is no folder {folder}{where}.")
    mapping = _read_mapping(mapping_path)
    subjects = []
    for key, info in mapping.items():
        questions_file = _split_file(folder, SPLIT_FOLDERS[split], key)
        if questions_file is None:
            continue
        questions = read_questions(questions_file)
        missing = next((index for index, question in enumerate(questions) if question.answer is None), None)
        if missing is not None:
            raise DatasetError(
                f"{questions_file} has no answer for question {missing} (this split hides its labels), so it cannot be scored: "
                f"use another split, e.g. task: {bench}_validation."
            )
        dev = _few_shot_examples(folder, key, n_shot)
        subjects.append(Subject(key, info["name"], info["category"], questions, dev))
    if not subjects:
        expected = folder / SPLIT_FOLDERS[split] / f"<subject>_{SPLIT_FOLDERS[split]}.csv"
        raise DatasetError(f"Task `{task}` has no question files: expected files like {expected} for the subjects of {mapping_path}.")
    return Benchmark(bench, split, folder, subjects)


def _read_mapping(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: each benchmark folder needs mapping.json (subject -> name and category).")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not valid UTF-8 JSON: {error}") from None
    for key, info in mapping.items() if isinstance(mapping, dict) else [("", None)]:
        if not isinstance(info, dict) or not isinstance(info.get("name"), str) or info.get("category") not in CATEGORIES:
            raise DatasetError(
                f'{path}: subject `{key}` must map to {{"name": ..., "category": one of {", ".join(CATEGORIES)}}}, not {info!r}.'
            )
    return mapping


def _split_file(folder: Path, split_folder: str, subject: str) -> Optional[Path]:
    for name in (f"{subject}_{split_folder}.csv", f"{subject}.csv"):
        if (folder / split_folder / name).is_file():
            return folder / split_folder / name
    return None


def _few_shot_examples(folder: Path, subject: str, n_shot: int) -> list[Question]:
    if n_shot == 0:
        return []
    path = _split_file(folder, FEW_SHOT_FOLDER, subject)
    if path is None:
        expected = folder / FEW_SHOT_FOLDER / f"{subject}_{FEW_SHOT_FOLDER}.csv"
        raise DatasetError(f"{expected} is missing: `n_shot: {n_shot}` takes its examples from the dev split (or set n_shot: 0).")
    dev = read_questions(path)
    if n_shot > len(dev):
        raise ConfigError(f"`n_shot: {n_shot}` is larger than the {len(dev)} examples in {path}: set n_shot to {len(dev)} or less.")
    if any(question.answer is None for question in dev):
        raise DatasetError(f"{path} has questions without an answer; few-shot examples need them.")
    return dev


def read_questions(path: Path) -> list[Question]:
    """Rows of one CSV file in any of the three dialects; a malformed row is a DatasetError with its line."""
    try:
        rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path} cannot be read as UTF-8 CSV: {error}") from None
    columns = _header_columns(rows[0]) if rows else None
    first_line = 2 if columns else 1
    if columns is None:
        columns = {"question": 0, **{letter: 1 + offset for offset, letter in enumerate(CHOICES)}, "answer": 5}
    else:
        rows = rows[1:]
    needed = max(columns[name] for name in ("question", *CHOICES))
    questions = []
    for line, row in enumerate(rows, start=first_line):
        if len(row) <= needed:
            raise DatasetError(f"{path} line {line} has {len(row)} columns; expected question, A, B, C, D and answer.")
        answer = row[columns["answer"]].strip() if columns.get("answer", len(row)) < len(row) else None
        if answer is not None and answer not in CHOICES:
            raise DatasetError(f"{path} line {line}: answer {answer!r} is not one of {', '.join(CHOICES)}.")
        questions.append(Question(row[columns["question"]], {letter: row[columns[letter]] for letter in CHOICES}, answer))
    return questions


def _header_columns(first_row: list[str]) -> Optional[dict[str, int]]:
    """Column positions by name when ``first_row`` is a header (C-Eval, CMMLU), else None (MMLU)."""
    names = {cell.strip().lower(): index for index, cell in enumerate(first_row)}
    if "question" not in names or not all(letter.lower() in names for letter in CHOICES):
        return None
    columns = {"question": names["question"], **{letter: names[letter.lower()] for letter in CHOICES}}
    if "answer" in names:
        columns["answer"] = names["answer"]
    return columns
