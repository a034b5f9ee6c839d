"""The leaderboard: every evaluated version of one model (base, runs, checkpoints) with its scores side by side.

Each finished predict or eval job of the chosen model is one measurement of
one *version* — the base model, a run's final adapters, or a ``checkpoint-N`` —
on one *metric* (BLEU-4 / ROUGE-L on a dataset, a benchmark's average
accuracy, loss / perplexity on a dataset). The table has a row per version
and a column per metric, the newest measurement winning, and the best value
of each column marked (lowest for loss and perplexity, highest otherwise).
Picking two rows compares their predictions on the prompts both answered.
Everything is read from the job folders; nothing is stored.
"""

import difflib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from workflows.eval.measurements import adapter_list, evaluations_of_base

LOWER_IS_BETTER = ("loss", "perplexity")
BASE_MODEL = "base model"


@dataclass
class Version:
    """One evaluated version of the model and its newest score per metric."""

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)  # dataset -> the newest predict job's predictions file


def version_label(config: dict[str, Any], saves_dir: Path) -> str:
    """``base model``, or the evaluated run / checkpoint as the adapter picker names it (``run`` or ``run/checkpoint-N``)."""
    adapters = adapter_list(config)
    model = str(config.get("model_name_or_path") or "")
    chosen = Path(adapters[-1]) if adapters else Path(model)
    folder = chosen if chosen.is_absolute() else saves_dir.parent / chosen  # relative paths are the workdir's
    if not adapters and not (chosen.name.startswith("checkpoint-") or (folder / "run.yaml").is_file()):
        return BASE_MODEL  # a model that is not one of our runs: the base the leaderboard is about
    return f"{chosen.parent.name}/{chosen.name}" if chosen.name.startswith("checkpoint-") else chosen.name


def collect(saves_dir: Path, model: str) -> list[Version]:
    """The versions of ``model`` that finished eval or predict jobs measured, base model first, then by name."""
    versions: dict[str, Version] = {}
    for evaluation in evaluations_of_base(saves_dir, model):  # oldest first, so the newest measurement of a metric wins
        label = version_label(evaluation.config, saves_dir)
        version = versions.setdefault(label, Version(label))
        version.scores.update(evaluation.scores)
        if evaluation.predictions is not None:
            version.predictions[evaluation.dataset] = evaluation.predictions
    return sorted(versions.values(), key=lambda version: (version.label != BASE_MODEL, version.label))


def best_per_metric(versions: list[Version]) -> dict[str, str]:
    """Metric -> the label of the version that scores best on it."""
    best = {}
    for metric in {metric for version in versions for metric in version.scores}:
        scored = [version for version in versions if metric in version.scores]
        pick = min if metric.startswith(LOWER_IS_BETTER) else max
        best[metric] = pick(scored, key=lambda version: version.scores[metric]).label
    return best


def leaderboard_table(versions: list[Version]) -> tuple[list[str], list[list[Any]], dict[str, str]]:
    """(headers, rows, best) for a sortable table: numbers stay numbers; ``best`` says which cell to mark per column."""
    metrics = sorted({metric for version in versions for metric in version.scores})
    rows = [[version.label, *(round(version.scores[m], 4) if m in version.scores else None for m in metrics)] for version in versions]
    return ["version", *metrics], rows, best_per_metric(versions)


def styled(headers: list[str], rows: list[list[Any]], best: dict[str, str]):
    """A pandas Styler that marks the best cell of each metric column (Gradio's Dataframe shows the styling)."""
    import pandas as pd

    frame = pd.DataFrame(rows or [[""] + [None] * (len(headers) - 1)], columns=headers)

    def mark(column: pd.Series) -> list[str]:
        winner = best.get(column.name)
        return ["background-color: #bbf7d0; font-weight: 600" if winner == label else "" for label in frame["version"]]

    return frame.style.apply(mark, subset=[header for header in headers[1:]]).format(precision=4, na_rep="")


def compare_predictions(first: Version, second: Version) -> Optional[tuple[str, list[list[str]]]]:
    """(dataset, rows of prompt / reference / first / second / differ) on a dataset both versions predicted."""
    shared = [dataset for dataset in first.predictions if dataset in second.predictions]
    if not shared:
        return None
    dataset = shared[0]
    theirs = {record["prompt"]: record for record in _records(second.predictions[dataset])}
    rows = []
    for record in _records(first.predictions[dataset]):
        other = theirs.get(record["prompt"])
        if other is None:
            continue
        left, right = _diff(record.get("predict", ""), other.get("predict", ""))
        differ = "≠" if record.get("predict") != other.get("predict") else "="
        rows.append([html.escape(record["prompt"]), html.escape(record.get("label", "")), left, right, differ])
    return dataset, rows


def _records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def _diff(first: str, second: str) -> tuple[str, str]:
    """Both answers as HTML, the words only one of them has marked (<del> on the left, <ins> on the right)."""
    left_words, right_words = first.split(), second.split()
    left, right = [], []
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(a=left_words, b=right_words, autojunk=False).get_opcodes():
        a_text, b_text = html.escape(" ".join(left_words[a0:a1])), html.escape(" ".join(right_words[b0:b1]))
        if tag == "equal":
            left.append(a_text)
            right.append(b_text)
            continue
        if a_text:
            left.append(f"<del>{a_text}</del>")
        if b_text:
            right.append(f"<ins>{b_text}</ins>")
    return " ".join(left), " ".join(right)


def build_leaderboard(form, bar, workspace) -> None:
    """The leaderboard accordion of the Evaluate tab: the table, Refresh, and the comparison of the two rows picked last."""
    import gradio as gr

    from llamaboard.locales import message

    with form.accordion("leaderboard_accordion", elem_id="eval-leaderboard_accordion", open=False):
        refresh = form.button("leaderboard_refresh_button", elem_id="eval-leaderboard_refresh")
        table = form.control("leaderboard_table", gr.Dataframe, elem_id="eval-leaderboard", interactive=False, wrap=True)
        note = gr.HTML(elem_id="eval-leaderboard_note")
        comparison = form.control(
            "leaderboard_comparison", gr.Dataframe, elem_id="eval-comparison", interactive=False, wrap=True, datatype="html", max_height=520
        )
    picked = gr.State([])  # the labels of the last two rows clicked

    def show(model: str, lang: str) -> tuple:
        headers, rows, best = leaderboard_table(collect(workspace.saves_dir, model or ""))
        text = message(lang, "leaderboard_pick_two") if rows else message(lang, "leaderboard_empty")
        return styled(headers, rows, best), f'<div class="lb-note">{html.escape(text)}</div>', []

    def pick(model: str, lang: str, chosen: list[str], event: gr.SelectData) -> tuple:
        label = event.row_value[0] if event.row_value else None
        chosen = ([*chosen, label] if label and label not in chosen else chosen)[-2:]
        versions = {version.label: version for version in collect(workspace.saves_dir, model or "")}
        if len(chosen) < 2 or not all(name in versions for name in chosen):
            text = message(lang, "leaderboard_picked", first=chosen[0]) if chosen else message(lang, "leaderboard_pick_two")
            return chosen, f'<div class="lb-note">{html.escape(text)}</div>', gr.skip()
        compared = compare_predictions(versions[chosen[0]], versions[chosen[1]])
        if compared is None:
            text = message(lang, "leaderboard_nothing_shared", first=chosen[0], second=chosen[1])
            return chosen, f'<div class="lb-note">{html.escape(text)}</div>', gr.skip()
        dataset, rows = compared
        differing = sum(row[-1] == "≠" for row in rows)
        text = message(lang, "leaderboard_compared", first=chosen[0], second=chosen[1], dataset=dataset, differ=differing, total=len(rows))
        headers = [message(lang, "column_prompt"), message(lang, "column_reference"), chosen[0], chosen[1], "≠"]
        return chosen, f'<div class="lb-note">{html.escape(text)}</div>', {"headers": headers, "data": rows}

    gr.on([refresh.click, bar.model.change], show, [bar.model, bar.lang], [table, note, picked], show_progress="hidden")
    table.select(pick, [bar.model, bar.lang, picked], [picked, note, comparison], show_progress="hidden")
