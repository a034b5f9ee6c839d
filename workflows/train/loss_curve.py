"""Loss curves: the smoothing the UI and training_loss.png share, and the PNG itself.

Imports nothing heavy at module level so the UI process can use `smooth`.
"""

import math
from pathlib import Path


def plot_loss(log_history: list[dict], path: Path) -> None:
    """training_loss.png: raw and smoothed training loss, plus eval loss when there is one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    if not train:
        return
    steps, losses = zip(*train)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.plot(steps, losses, color="#1f77b4", alpha=0.35, label="loss")
    axes.plot(steps, smooth(list(losses)), color="#1f77b4", label="loss (smoothed)")
    if evaluation:
        axes.plot(*zip(*evaluation), color="#d62728", marker="o", label="eval loss")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(f"training loss of {path.parent.name}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def smooth(values: list[float]) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing; weight grows with the number of points."""
    if not values:
        return []
    weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    smoothed, last = [], values[0]
    for value in values:
        last = last * weight + (1 - weight) * value
        smoothed.append(last)
    return smoothed
