"""The run history table: one row per run directory under ``saves/``, read from its files."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from llamaboard.locales import message
from llamaboard.run_dir import TRAINER_LOG, read_run_config, read_state, tail_text

COLUMNS = ("run", "model", "stage", "method", "dataset", "state", "steps", "last_loss", "start_time")


@dataclass(frozen=True)
class HistoryRow:
    run_dir: Path
    cells: tuple


def last_log_record(run_dir: Path) -> Optional[dict[str, Any]]:
    """The last training record of trainer_log.jsonl, read from the file's end only."""
    for line in reversed(tail_text(run_dir / TRAINER_LOG, 4096).splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "loss" in record:
            return record
    return None


def history_rows(run_dirs: list[Path], queued_dirs: set[Path], saves_dir: Path, lang: str) -> list[HistoryRow]:
    rows = []
    for run_dir in run_dirs:
        config, state, record = read_run_config(run_dir), read_state(run_dir, run_dir in queued_dirs), last_log_record(run_dir) or {}
        steps = f"{record['current_steps']}/{record.get('total_steps', '?')}" if "current_steps" in record else ""
        loss = f"{record['loss']:.4f}" if isinstance(record.get("loss"), (int, float)) else ""
        started = (state.start_time or "").replace("T", " ")[:19]
        cells = (
            str(run_dir.relative_to(saves_dir)),
            config.get("model_name_or_path", ""),
            config.get("stage", ""),
            config.get("finetuning_type", ""),
            config.get("dataset") or "",
            message(lang, "state_" + state.state),
            steps,
            loss,
            started,
        )
        rows.append(HistoryRow(run_dir, cells))
    return rows


def history_table(rows: list[HistoryRow], lang: str) -> dict[str, Any]:
    """The value of a gr.Dataframe: localised headers and the rows' cells."""
    return {
        "headers": [message(lang, f"column_{column}") for column in COLUMNS],
        "data": [list(row.cells) for row in rows] or [[""] * len(COLUMNS)],
    }
