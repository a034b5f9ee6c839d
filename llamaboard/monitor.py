"""What the monitor shows for one run: progress line, loss chart, last error, log tail.

Pure rendering from what the run directory says (its state, the records read
by a TrainerLogReader, the log text); the panel decides when to call these.
"""

import html
import math
from typing import TYPE_CHECKING, Any, Optional

from llamaboard.locales import message
from llamaboard.trainer_log import TrainerLogReader
from workflows.run_dir import RunState
from workflows.train.loss_curve import smooth

if TYPE_CHECKING:
    import plotly.graph_objects as go

MAX_CHART_POINTS = 2000  # per curve: a long run's chart stays light to send every poll
STATE_COLOURS = {
    "running": "#2563eb",
    "starting": "#2563eb",
    "queued": "#7c3aed",
    "finished": "#16a34a",
    "failed": "#dc2626",
    "aborted": "#d97706",
    "created": "#6b7280",
}


def loss_figure(reader: TrainerLogReader, lang: str) -> Optional["go.Figure"]:
    """Training loss (raw and smoothed) and eval loss against the step; None before the first log line."""
    train, evaluation = reader.train_points, reader.eval_points
    if not train and not evaluation:
        return None
    import plotly.graph_objects as go  # here, not at start-up: plotly (with narwhals) takes ~0.05 s to import

    figure = go.Figure()
    if train:
        steps, losses = zip(*train)
        smoothed = smooth(list(losses))
        steps, losses, smoothed = (_thin(list(values)) for values in (steps, losses, smoothed))
        mode = _mode(steps)
        figure.add_scatter(x=steps, y=losses, name=message(lang, "chart_train_loss"), mode=mode, line={"color": "rgba(37,99,235,0.35)"})
        figure.add_scatter(x=steps, y=smoothed, name=message(lang, "chart_smoothed"), mode=mode, line={"color": "#2563eb", "width": 2.5})
    if evaluation:
        steps, losses = zip(*evaluation[-MAX_CHART_POINTS:])
        figure.add_scatter(x=steps, y=losses, name=message(lang, "chart_eval_loss"), mode="lines+markers", line={"color": "#ea580c"})
    metrics = reader.metric_points
    for index, (name, points) in enumerate(metrics.items()):
        # the stage's own metrics (rewards/margins, accuracy, reward, kl ...) on a second axis, dotted, beside the loss
        steps, values = zip(*points[-MAX_CHART_POINTS:])
        colour = METRIC_COLOURS[index % len(METRIC_COLOURS)]
        figure.add_scatter(x=steps, y=values, name=name, mode=_mode(steps), yaxis="y2", line={"color": colour, "dash": "dot"})
    if metrics:
        figure.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": message(lang, "chart_metrics")})
    legend_rows = math.ceil(len(figure.data) / LEGEND_ENTRIES_PER_ROW)
    figure.update_layout(
        height=320 + LEGEND_ROW_PX * legend_rows,
        margin={"l": 50, "r": 20, "t": 20, "b": 50 + LEGEND_ROW_PX * legend_rows},
        template="plotly_white",
        xaxis_title=message(lang, "chart_step"),
        yaxis_title=message(lang, "chart_loss"),
        legend={"orientation": "h", "y": -0.18, "yanchor": "top"},  # under the plot: a stage with many metrics never covers it
        uirevision="keep-zoom",
    )
    return figure


FEW_POINTS = 20
LEGEND_ENTRIES_PER_ROW = 4
LEGEND_ROW_PX = 22


def _mode(steps) -> str:
    """Markers as well as lines while a trace has few points: a metric logged once is a dot, not nothing."""
    return "lines+markers" if len(steps) < FEW_POINTS else "lines"


METRIC_COLOURS = ("#16a34a", "#9333ea", "#db2777", "#0891b2", "#ca8a04", "#dc2626", "#4b5563", "#65a30d")  # ppo logs seven


def _thin(values: list) -> list:
    """At most MAX_CHART_POINTS (+1) evenly spaced values, always keeping the first and the last."""
    stride = max(1, math.ceil(len(values) / MAX_CHART_POINTS))
    thinned = values[::stride]
    return thinned if (len(values) - 1) % stride == 0 else thinned + values[-1:]


def progress_html(run_label: str, state: RunState, latest: Optional[dict[str, Any]], lang: str) -> str:
    """A state badge, a progress bar and step/time/throughput figures."""
    colour = STATE_COLOURS.get(state.state, "#6b7280")
    badge = f'<span class="lb-badge" style="background:{colour}">{html.escape(message(lang, "state_" + state.state))}</span>'
    kind = html.escape(message(lang, f"kind_{state.kind}"))
    head = f'<div class="lb-run-title">{badge} <span class="lb-kind">{kind}</span> <code>{html.escape(run_label)}</code></div>'
    if not latest:
        waiting = message(lang, "progress_waiting" if state.is_active or state.state in ("queued", "created") else "progress_no_steps")
        return head + f'<div class="lb-progress-text">{html.escape(waiting)}</div>'
    percentage = latest.get("percentage") or (100.0 * latest.get("current_steps", 0) / max(1, latest.get("total_steps", 1)))
    if state.state == "finished":
        percentage = 100.0
    step, total = latest.get("current_steps", "?"), latest.get("total_steps", "?")
    if state.state == "finished":
        step = total  # the last step is not always a logging step: a finished job has done them all
    facts = [
        message(lang, "progress_step", step=step, total=total) if state.kind == "train" else f"{step}/{total}",
        f"{percentage:.0f}%",
        message(lang, "progress_elapsed", elapsed=latest.get("elapsed_time", "?")),
    ]
    if state.is_active:
        facts.append(message(lang, "progress_eta", eta=latest.get("remaining_time", "?")))
    if latest.get("throughput") is not None:
        facts.append(message(lang, "progress_throughput", throughput=f"{latest['throughput']:.0f}"))
    if latest.get("loss") is not None:
        facts.append(f"loss {latest['loss']:.4f}")
    return (
        head
        + '<div class="lb-progress">'
        + f'<div class="lb-progress-bar" style="width:{min(100.0, percentage):.1f}%;background:{colour}"></div></div>'
        + f'<div class="lb-progress-text">{html.escape(" · ".join(facts))}</div>'
    )


def last_error_line(state: RunState, log_text: str) -> Optional[str]:
    """The one line that says why a run failed: the job's own error, else the log's last error line."""
    if state.state != "failed":
        return None
    if state.error:
        return state.error
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "Error" in line or "error:" in line), lines[-1] if lines else None)


def error_html(error: Optional[str], lang: str) -> str:
    if not error:
        return ""
    return f'<div class="lb-error"><strong>{html.escape(message(lang, "run_failed"))}</strong> {html.escape(error)}</div>'


def log_html(log_text: str) -> str:
    """The log tail in a box that stays scrolled to its newest line (column-reverse pins the bottom)."""
    return f'<div class="lb-log"><pre>{html.escape(log_text)}</pre></div>'
