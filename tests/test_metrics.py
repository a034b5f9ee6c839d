"""BLEU-4 and ROUGE equal what the pinned libraries give when called the way LLaMA-Factory calls them.

``llamafactory_scores`` below is LLaMA-Factory's ``scripts/eval_bleu_rouge.py: compute_metrics``
written out again; the pinned numbers guard against a library upgrade moving the scores silently.
"""

import pytest

from workflows.eval.metrics import SCORE_NAMES, average_scores, similarity_scores

PAIRS = [  # (prediction, reference, pinned {bleu-4, rouge-1, rouge-2, rouge-l})
    (
        "I am LlamaBoard Assistant, an AI assistant developed by LlamaBoard.",
        "I am LlamaBoard Assistant, an AI assistant developed by LlamaBoard. How can I help you?",
        {"bleu-4": 74.1925, "rouge-1": 81.4815, "rouge-2": 78.5714, "rouge-l": 80.0},
    ),
    (
        "The capital of France is Paris.",
        "Paris is the capital of France.",
        {"bleu-4": 83.0239, "rouge-1": 85.7143, "rouge-2": 33.3333, "rouge-l": 57.1429},
    ),
    ("hello", "goodbye world", {"bleu-4": 2.8384, "rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}),
    (
        "我是由 LlamaBoard 开发的人工智能助手。",
        "您好，我是 LlamaBoard Assistant，由 LlamaBoard 开发的人工智能助手。",
        {"bleu-4": 34.7424, "rouge-1": 85.7143, "rouge-2": 66.6667, "rouge-l": 78.2609},
    ),
    (
        "今天天气很好，我们去公园散步吧。",
        "今天天气不错，一起去公园散步。",
        {"bleu-4": 40.325, "rouge-1": 66.6667, "rouge-2": 25.0, "rouge-l": 66.6667},
    ),
    ("", "anything", {"bleu-4": 0.0, "rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}),
]


def llamafactory_scores(predict: str, label: str) -> dict:
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    hypothesis, reference = list(jieba.cut(predict)), list(jieba.cut(label))
    bleu_score = sentence_bleu([list(label)], list(predict), smoothing_function=SmoothingFunction().method3)
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
    metric_result = {k: round(v["f"] * 100, 4) for k, v in result.items()}
    metric_result["bleu-4"] = round(bleu_score * 100, 4)
    return metric_result


@pytest.mark.parametrize("predict, label, pinned", PAIRS)
def test_scores_equal_the_libraries_called_the_llamafactory_way(predict, label, pinned):
    scores = similarity_scores(predict, label)
    assert scores == pytest.approx(llamafactory_scores(predict, label), abs=1e-9)
    assert scores == pytest.approx(pinned, abs=1e-4)
    assert tuple(scores) == SCORE_NAMES


def test_the_run_figure_is_the_mean_of_the_rows_with_predict_names():
    rows = [similarity_scores(predict, label) for predict, label, _ in PAIRS]
    averaged = average_scores(rows)
    assert set(averaged) == {"predict_bleu-4", "predict_rouge-1", "predict_rouge-2", "predict_rouge-l"}
    assert averaged["predict_bleu-4"] == pytest.approx(sum(pinned["bleu-4"] for _, _, pinned in PAIRS) / len(PAIRS), abs=1e-4)
