"""Follow a job's ``trainer_log.jsonl`` (progress rows; training adds loss) incrementally: each poll reads only the new bytes.

A reader lives in the browser session's state (one per watched run), so
polling a long run costs the size of the new lines, not of the whole file.
The job may be mid-write (a partial last line stays unread until complete) and
a resumed job truncates the file back to its checkpoint (detected by the file
shrinking or by a step that does not move forward; both drop the later lines).
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from workflows.stages import STAGES

STAGE_METRICS = tuple(dict.fromkeys(name for stage in STAGES.values() for name in stage.metrics))


@dataclass
class TrainerLogReader:
    path: Path
    offset: int = 0
    inode: Optional[int] = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def poll(self) -> bool:
        """Read lines appended since the last poll; True when the records changed."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            changed = bool(self.records)
            self._restart(None)
            return changed
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self._restart(stat.st_ino)
        if stat.st_size == self.offset:
            return False
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            new_bytes = handle.read(stat.st_size - self.offset)
        complete_length = new_bytes.rfind(b"\n") + 1  # a partial last line waits for the next poll
        if complete_length == 0:
            return False
        self.offset += complete_length
        for line in new_bytes[:complete_length].decode("utf-8", errors="replace").splitlines():
            self._add(line)
        return True

    def _restart(self, inode: Optional[int]) -> None:
        self.offset, self.inode, self.records = 0, inode, []

    def _add(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        step = record.get("current_steps")
        if step is not None and is_progress(record):
            # A resumed run logs from its checkpoint again: forget what came after it.
            self.records = [old for old in self.records if old.get("current_steps", -1) < step]
        self.records.append(record)

    @property
    def train_points(self) -> list[tuple[int, float]]:
        return [(rec["current_steps"], rec["loss"]) for rec in self.records if "loss" in rec and "current_steps" in rec]

    @property
    def eval_points(self) -> list[tuple[int, float]]:
        return [(rec["current_steps"], rec["eval_loss"]) for rec in self.records if "eval_loss" in rec and "current_steps" in rec]

    @property
    def metric_points(self) -> dict[str, list[tuple[int, float]]]:
        """The stage's own training metrics (``Stage.metrics``: rewards/margins, accuracy, reward, kl ...) by name, in step order."""
        points: dict[str, list[tuple[int, float]]] = {}
        for rec in self.records:
            if "loss" not in rec or "current_steps" not in rec:
                continue
            for name in STAGE_METRICS:
                if isinstance(rec.get(name), (int, float)):
                    points.setdefault(name, []).append((rec["current_steps"], rec[name]))
        return points

    @property
    def latest(self) -> Optional[dict[str, Any]]:
        """The last progress (not evaluation-only) record: step, timing, throughput and loss."""
        return next((rec for rec in reversed(self.records) if is_progress(rec)), None)


def is_progress(record: dict[str, Any]) -> bool:
    """A row that moves the job forward: a training step (with loss) or a progress row of any job, not an eval-only row."""
    return "current_steps" in record and ("loss" in record or "eval_loss" not in record)
