"""The job history table: one row per run directory under ``saves/``, read from its files.

Every kind of job is listed with its state, progress and headline result:
training its last loss, predict its BLEU-4, a benchmark its average accuracy,
an export whether its self-check passed.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from llamaboard.locales import message
from workflows.eval.measurements import EVALUATION_KINDS
from workflows.run_dir import (
    EVAL_LOSS_FILE,
    EVAL_RESULTS_FILE,
    EXPORT_CHECK_FILE,
    PREDICT_RESULTS_FILE,
    TRAINER_LOG_FILE,
    RunState,
    read_json,
    read_run_config,
    read_state,
    tail_text,
)

COLUMNS = ("run", "kind", "model", "stage", "method", "dataset", "state", "steps", "result", "start_time")


@dataclass(frozen=True)
class HistoryRow:
    run_dir: Path
    state: RunState
    cells: tuple


def last_progress_record(run_dir: Path) -> Optional[dict[str, Any]]:
    """The last progress (not evaluation-only) row of trainer_log.jsonl, read from the file's end only."""
    for line in reversed(tail_text(run_dir / TRAINER_LOG_FILE, 4096).splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "current_steps" in record and ("loss" in record or "eval_loss" not in record):
            return record
    return None


def _train_result(run_dir: Path, record: dict) -> str:
    return f"loss {record['loss']:.4f}" if isinstance(record.get("loss"), (int, float)) else ""


def _predict_result(run_dir: Path, record: dict) -> str:
    bleu = (read_json(run_dir / PREDICT_RESULTS_FILE) or {}).get("predict_bleu-4")
    return f"BLEU-4 {bleu:.2f}" if isinstance(bleu, (int, float)) else ""


def _eval_result(run_dir: Path, record: dict) -> str:
    """A benchmark's average accuracy, or the eval loss of a loss/perplexity job."""
    average = (((read_json(run_dir / EVAL_RESULTS_FILE) or {}).get("categories") or {}).get("Average") or {}).get("accuracy")
    if isinstance(average, (int, float)):
        return f"avg {average:.2f}%"
    loss = (read_json(run_dir / EVAL_LOSS_FILE) or {}).get("eval_loss")
    return f"eval loss {loss:.4f}" if isinstance(loss, (int, float)) else ""


def _export_result(run_dir: Path, record: dict) -> str:
    check = read_json(run_dir / EXPORT_CHECK_FILE)
    if check is None or "passed" not in check:
        return ""
    return "check passed" if check["passed"] else "check failed"


HEADLINES: dict[str, Callable[[Path, dict], str]] = {
    "train": _train_result,
    "predict": _predict_result,
    "eval": _eval_result,
    "export": _export_result,
}
"""The one result each kind of job is judged by, as the history shows it."""


def job_data(kind: str, config: dict[str, Any]) -> str:
    """The data a job read: a benchmark its ``task``; eval and predict ``eval_dataset``, else ``dataset`` (as the
    engine picks it); training its ``dataset``."""
    keys = ("task", "eval_dataset", "dataset") if kind in EVALUATION_KINDS else ("dataset",)
    return str(next((config[key] for key in keys if config.get(key)), ""))


def history_rows(run_dirs: list[Path], queued: dict[Path, str], saves_dir: Path, lang: str, kinds: tuple[str, ...]) -> list[HistoryRow]:
    """Rows for the jobs of ``kinds`` among ``run_dirs`` (in their order); ``queued`` maps queued run directories to their kind."""
    rows = []
    for run_dir in run_dirs:
        state = read_state(run_dir, queued.get(run_dir))
        if state.kind not in kinds:
            continue
        config, record = read_run_config(run_dir), last_progress_record(run_dir) or {}
        steps = f"{record['current_steps']}/{record.get('total_steps', '?')}" if "current_steps" in record else ""
        cells = (
            str(run_dir.relative_to(saves_dir)),
            message(lang, f"kind_{state.kind}"),
            config.get("model_name_or_path", ""),
            config.get("stage", "") if state.kind == "train" else "",
            config.get("finetuning_type", ""),
            job_data(state.kind, config),
            message(lang, "state_" + state.state),
            steps,
            HEADLINES.get(state.kind, _train_result)(run_dir, record),
            (state.start_time or "").replace("T", " ")[:19],
        )
        rows.append(HistoryRow(run_dir, state, cells))
    return rows


def history_table(rows: list[HistoryRow], lang: str) -> dict[str, Any]:
    """The value of a gr.Dataframe: localised headers and the rows' cells."""
    return {
        "headers": [message(lang, f"column_{column}") for column in COLUMNS],
        "data": [list(row.cells) for row in rows] or [[""] * len(COLUMNS)],
    }
