"""BLEU-4 and ROUGE-1/2/L of a prediction against its reference, computed exactly as LLaMA-Factory does.

LLaMA-Factory (``train/sft/metric.py: ComputeSimilarity`` and
``scripts/eval_bleu_rouge.py``) segments both texts with jieba and scores
ROUGE with ``rouge-chinese`` on the space-joined words (F-measure), and BLEU-4
with NLTK's ``sentence_bleu`` on *characters* with smoothing method 3; every
score is a percentage rounded to 4 places, and the run's figure is the plain
mean over rows. We call the same libraries the same way (pinned in
requirements.txt) so numbers are comparable with LLaMA-Factory's. jieba's
dictionary ships inside the package: nothing is downloaded.
"""

import logging
from statistics import fmean

SCORE_NAMES = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")
"""Per-row score keys, in LLaMA-Factory's spelling; averaged results are prefixed ``predict_``."""

_ready = False


def _libraries():
    global _ready
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    if not _ready:
        jieba.setLogLevel(logging.CRITICAL)  # it prints "Building prefix dict..." on first use
        jieba.initialize()
        _ready = True
    return jieba, Rouge, sentence_bleu, SmoothingFunction


def similarity_scores(prediction: str, reference: str) -> dict[str, float]:
    """``{"bleu-4", "rouge-1", "rouge-2", "rouge-l"}`` in percent for one prediction."""
    jieba, Rouge, sentence_bleu, SmoothingFunction = _libraries()
    hypothesis, expected = list(jieba.cut(prediction)), list(jieba.cut(reference))
    if not " ".join(hypothesis).split() or not " ".join(expected).split():
        rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        found = Rouge().get_scores(" ".join(hypothesis), " ".join(expected))[0]
        rouge = {name: value["f"] for name, value in found.items()}
    bleu = sentence_bleu([list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3)
    scores = {name: round(value * 100, 4) for name, value in rouge.items()}
    scores["bleu-4"] = round(float(bleu) * 100, 4)
    return {name: scores[name] for name in SCORE_NAMES}


def average_scores(rows: list[dict[str, float]], prefix: str = "predict_") -> dict[str, float]:
    """The mean of each score over ``rows`` (LLaMA-Factory's run figure), keys prefixed like ``predict_bleu-4``."""
    return {f"{prefix}{name}": round(fmean(row[name] for row in rows), 4) if rows else 0.0 for name in SCORE_NAMES}
