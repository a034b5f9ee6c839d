"""What the finished evaluation jobs under ``saves/`` measured, read from their folders (torch-free).

A finished ``predict`` or ``eval`` job measured one version of a model: its
``model_name_or_path`` with the adapters of ``adapter_name_or_path`` merged in
order, or a full run's ``checkpoint-N`` given as the model. Its scores are
named ``<metric> · <dataset>`` (BLEU-4, ROUGE-L, loss, perplexity) or
``<task> · accuracy`` (a benchmark's average). The leaderboard groups them by
version; the exported model's card lists those of exactly the version exported.
Relative paths in a job's run.yaml are the workdir's (the folder holding
``saves/``), where every job runs.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.run_dir import (
    EVAL_LOSS_FILE,
    EVAL_RESULTS_FILE,
    PREDICT_RESULTS_FILE,
    PREDICTIONS_FILE,
    find_runs,
    model_folder_name,
    read_json,
    read_run_config,
    read_state,
)

EVALUATION_KINDS = ("eval", "predict")


@dataclass(frozen=True)
class Evaluation:
    """One finished eval or predict job: its folder, its run.yaml and its scores."""

    run_dir: Path
    kind: str
    config: dict[str, Any]
    scores: dict[str, float]

    @property
    def dataset(self) -> str:
        """The dataset(s) it scored on, as the job read them (``eval_dataset`` first, as predict and eval do)."""
        return str(self.config.get("eval_dataset") or self.config.get("dataset") or "")

    @property
    def predictions(self) -> Path | None:
        path = self.run_dir / PREDICTIONS_FILE
        return path if path.is_file() else None


def adapter_list(config: dict[str, Any]) -> list[str]:
    """``adapter_name_or_path`` of a run.yaml as a list (the key holds a comma-separated string)."""
    return [part.strip() for part in str(config.get("adapter_name_or_path") or "").split(",") if part.strip()]


def job_scores(run_dir: Path, config: dict[str, Any]) -> dict[str, float]:
    """The scores a job's result files hold: BLEU-4 / ROUGE-L of predict, a benchmark's average accuracy, loss / perplexity."""
    dataset = str(config.get("eval_dataset") or config.get("dataset") or "")
    predict = read_json(run_dir / PREDICT_RESULTS_FILE) or {}
    benchmark = read_json(run_dir / EVAL_RESULTS_FILE) or {}
    loss = read_json(run_dir / EVAL_LOSS_FILE) or {}
    average = ((benchmark.get("categories") or {}).get("Average") or {}).get("accuracy")
    found = {
        f"BLEU-4 · {dataset}": predict.get("predict_bleu-4"),
        f"ROUGE-L · {dataset}": predict.get("predict_rouge-l"),
        f"{benchmark.get('task', config.get('task'))} · accuracy": average,
        f"loss · {dataset}": loss.get("eval_loss"),
        f"perplexity · {dataset}": loss.get("perplexity"),
    }
    return {metric: value for metric, value in found.items() if isinstance(value, (int, float))}


def finished_evaluations(saves_dir: Path) -> list[Evaluation]:
    """Every finished eval and predict job under ``saves_dir``, oldest first (so a newer score of a metric comes later)."""
    evaluations = []
    for run_dir in reversed(find_runs(saves_dir)):
        state = read_state(run_dir)
        if state.kind in EVALUATION_KINDS and state.state == "finished":
            config = read_run_config(run_dir)
            evaluations.append(Evaluation(run_dir, state.kind, config, job_scores(run_dir, config)))
    return evaluations


def evaluated_base(config: dict[str, Any]) -> str:
    """The base model a job evaluated: its model, or for a full run's checkpoint the model that run trained."""
    model = Path(str(config.get("model_name_or_path") or ""))
    run_dir = model.parent if model.name.startswith("checkpoint-") else model
    trained = read_run_config(run_dir) if (run_dir / "run.yaml").is_file() else {}
    return str(trained.get("model_name_or_path") or model)


def evaluations_of_base(saves_dir: Path, model: str) -> list[Evaluation]:
    """The finished evaluations of any version of ``model`` (the base, its runs and their checkpoints), oldest first."""
    wanted = model_folder_name(model)
    return [found for found in finished_evaluations(saves_dir) if model_folder_name(evaluated_base(found.config)) == wanted]


def evaluations_of_source(saves_dir: Path, model: str, adapters: list[str]) -> list[Evaluation]:
    """The finished evaluations of exactly ``model`` with ``adapters`` (in that order), oldest first.

    Paths are compared as folders (a relative and an absolute path to the same run match); names that are
    no folder (a hub id, the built-in model) as they are written.
    """
    workdir = Path(saves_dir).parent
    wanted = _source_key(model, adapters, workdir)
    return [
        found
        for found in finished_evaluations(saves_dir)
        if _source_key(str(found.config.get("model_name_or_path") or ""), adapter_list(found.config), workdir) == wanted
    ]


def _source_key(model: str, adapters: list[str], workdir: Path) -> tuple[str, ...]:
    return tuple(_folder_or_name(name, workdir) for name in (model, *adapters))


def _folder_or_name(name: str, workdir: Path) -> str:
    path = Path(name).expanduser()
    folder = path if path.is_absolute() else workdir / path
    return str(folder.resolve()) if name and folder.exists() else name
