"""The stage registry: every training stage LLaMA-Factory configs can name, in one place.

The config schema (which values ``stage`` accepts), the data layer (which
datasets suit a stage and what an example holds), the feature builder, the
launcher (which recipe trains it) and the Train tab (which stages it offers,
which datasets it lists, which metrics it plots) all read this table. A stage
whose ``recipe`` is None is known but not built yet: a config naming it gets a
clear message instead of "unknown value". Torch-free: the UI imports it.
"""

from dataclasses import dataclass
from typing import Literal, Optional

DataShape = Literal["text", "conversation", "ranking", "kto"]


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    data: DataShape
    """What each example holds: plain text (or any conversation, flattened), a conversation ending on the answer,
    a prompt with chosen/rejected answers (``"ranking": true`` datasets), or a conversation with a KTO label."""
    recipe: Optional[str]
    """Module under ``workflows.train`` whose ``run(config, run_dir, stop, show_progress)`` trains the stage."""
    features: Optional[str] = None
    """How examples become token ids and labels (a key of ``workflows.features.build.ENCODERS``)."""
    packs_by_default: bool = False
    metrics: tuple[str, ...] = ()
    """Fields this stage logs to trainer_log.jsonl beside ``loss`` (the monitor plots them)."""
    alignment: bool = False
    """Reads the RLHF settings (pref_*, ref_model, reward_model, ppo_*): the Train tab shows them for it."""

    @property
    def available(self) -> bool:
        return self.recipe is not None


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("pt", "continued pre-training on raw text", "text", "causal_lm", "pretrain", packs_by_default=True),
        Stage("sft", "supervised fine-tuning on conversations", "conversation", "causal_lm", "supervised"),
        Stage(
            "rm",
            "reward model on chosen/rejected pairs",
            "ranking",
            "reward",
            "pairwise",
            metrics=("accuracy", "rewards/chosen", "rewards/rejected"),
            alignment=True,
        ),
        Stage(
            "dpo",
            "direct preference optimisation on chosen/rejected pairs",
            "ranking",
            "preference",
            "pairwise",
            metrics=("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"),
            alignment=True,
        ),
        Stage(
            "kto",
            "Kahneman-Tversky optimisation on answers labelled good or bad",
            "kto",
            "preference",
            "kto",
            metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "kl"),
            alignment=True,
        ),
        Stage(
            "ppo",
            "PPO against a reward model",
            "conversation",
            "ppo",
            "prompt",
            metrics=("reward", "kl", "kl_coef", "ppo/loss/policy", "ppo/loss/value", "ppo/returns/mean", "ppo/val/vpred"),
            alignment=True,
        ),
    )
}
AVAILABLE_STAGES: tuple[str, ...] = tuple(name for name, stage in STAGES.items() if stage.available)


def get_stage(name: str) -> Stage:
    """The stage called ``name``; a ValueError that lists the choices, or says the stage is not built yet."""
    stage = STAGES.get(name)
    if stage is None:
        raise ValueError(f"unknown stage {name!r}; the stages are {', '.join(STAGES)}")
    if not stage.available:
        raise ValueError(
            f"stage `{name}` ({stage.summary}) is not available in this version yet; the stages that train today are "
            f"{', '.join(AVAILABLE_STAGES)}"
        )
    return stage
