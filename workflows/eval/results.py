"""Benchmark scores: counted per subject, summed per category and overall, written and printed.

``results.json`` (rewritten atomically after every batch, so a stopped or
killed run keeps what it scored)::

    {"task": "mmlu_test", "lang": "en", "n_shot": 5, "model": ..., "adapter": ...,
     "complete": true,                    # false while running, or when stopped early
     "scored": 564, "total": 564,         # questions scored / asked
     "categories": {"Average": {"accuracy": 25.53, "correct": 144, "total": 564},
                    "STEM": {...}, "Social Sciences": {...}, "Humanities": {...}, "Other": {...}},
     "subjects": {"abstract_algebra": {"name": "abstract algebra", "category": "STEM",
                                       "accuracy": 22.0, "correct": 22, "total": 100}, ...}}

``accuracy`` is a percentage (null for a category with no questions, as LLaMA-Factory leaves it out of its table).
``results.log`` holds the printed table: one line per subject, then LLaMA-Factory's category lines.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from workflows.eval.benchmark import CATEGORIES, Benchmark

AVERAGE = "Average"


@dataclass
class Count:
    correct: int = 0
    total: int = 0

    def add(self, correct: int, total: int) -> None:
        self.correct += correct
        self.total += total

    def as_json(self) -> dict[str, Any]:
        accuracy = round(100 * self.correct / self.total, 4) if self.total else None
        return {"accuracy": accuracy, "correct": self.correct, "total": self.total}


@dataclass
class Tally:
    """Right answers per subject of one benchmark run; categories are sums of their subjects."""

    benchmark: Benchmark
    subjects: dict[str, Count] = field(default_factory=dict)

    def add(self, subject_key: str, predictions: list[str], answers: list[str]) -> None:
        correct = sum(prediction == answer for prediction, answer in zip(predictions, answers))
        self.subjects.setdefault(subject_key, Count()).add(correct, len(predictions))

    def categories(self) -> dict[str, Count]:
        counts = {name: Count() for name in (AVERAGE, *CATEGORIES)}
        for subject in self.benchmark.subjects:
            count = self.subjects.get(subject.key, Count())
            counts[subject.category].add(count.correct, count.total)
            counts[AVERAGE].add(count.correct, count.total)
        return counts

    def as_json(self, complete: bool, header: dict[str, Any]) -> dict[str, Any]:
        categories = self.categories()
        subjects = {
            subject.key: {"name": subject.name, "category": subject.category, **self.subjects.get(subject.key, Count()).as_json()}
            for subject in self.benchmark.subjects
        }
        return {
            **header,
            "complete": complete,
            "scored": categories[AVERAGE].total,
            "total": self.benchmark.question_count,
            "categories": {name: count.as_json() for name, count in categories.items()},
            "subjects": subjects,
        }

    def table(self) -> str:
        """Subject lines, then the category lines exactly as LLaMA-Factory prints them (categories without questions omitted)."""
        width = max(15, *(len(subject.name) for subject in self.benchmark.subjects))
        lines = [f"{subject.name:>{width}}: {_percent(self.subjects.get(subject.key))}" for subject in self.benchmark.subjects]
        lines.append("")
        lines += [f"{name:>15}: {100 * count.correct / count.total:.2f}" for name, count in self.categories().items() if count.total]
        return "\n".join(lines)


def _percent(count: Optional[Count]) -> str:
    return f"{100 * count.correct / count.total:.2f}" if count and count.total else "-"
