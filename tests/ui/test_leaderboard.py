"""The leaderboard: the base model and two checkpoints side by side, best marked, two rows compared.

Job folders are written by hand in the engine's formats (status.json, run.yaml, predict_results.json,
generated_predictions.jsonl, results.json); the jobs that write them are tested in tests/test_eval_*.py.
"""

import json
from pathlib import Path

import yaml
from browser_helpers import open_page, wait_for
from conftest import screenshot

from llamaboard.leaderboard import BASE_MODEL, collect, compare_predictions, leaderboard_table

RUN = "saves/llamaboard-tiny/lora/identity"
ANSWERS = {
    BASE_MODEL: ["Hello hello", "Blue sky"],
    "identity/checkpoint-5": ["I am a model", "Blue"],
    "identity/checkpoint-10": ["I am LlamaBoard Assistant", "Blue"],
}


def write_job(saves: Path, name: str, kind: str, config: dict, files: dict[str, str]) -> Path:
    job = saves / "llamaboard-tiny" / kind / name
    job.mkdir(parents=True)
    (job / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", "finetuning_type": "lora", **config}))
    (job / "status.json").write_text(json.dumps({"kind": kind, "state": "finished", "pid": 1, "start_time": "2026-01-01T00:00:00"}))
    for file_name, text in files.items():
        (job / file_name).write_text(text)
    return job


def write_evaluations(workdir: Path) -> None:
    saves = workdir / "saves"
    for number, (label, answers) in enumerate(ANSWERS.items()):
        adapter = None if label == BASE_MODEL else str(workdir / RUN / label.split("/")[1])
        predictions = "".join(
            json.dumps({"prompt": prompt, "predict": answer, "label": reference}) + "\n"
            for prompt, answer, reference in zip(("Who are you?", "Sky colour?"), answers, ("I am LlamaBoard Assistant", "Blue"))
        )
        results = {"predict_bleu-4": 10.0 * number + 5, "predict_rouge-l": 20.0 * number}
        config = {"adapter_name_or_path": adapter, "dataset": "identity"}
        write_job(
            saves,
            f"predict_{number}",
            "predict",
            config,
            {"generated_predictions.jsonl": predictions, "predict_results.json": json.dumps(results)},
        )
    benchmark = {"task": "mmlu_test", "categories": {"Average": {"accuracy": 31.0, "correct": 31, "total": 100}}}
    write_job(saves, "mmlu_base", "eval", {"task": "mmlu_test"}, {"results.json": json.dumps(benchmark)})


def test_versions_metrics_best_and_comparison(tmp_path):
    write_evaluations(tmp_path)
    versions = collect(tmp_path / "saves", "llamaboard-tiny")
    assert [version.label for version in versions] == [BASE_MODEL, "identity/checkpoint-10", "identity/checkpoint-5"]
    headers, rows, best = leaderboard_table(versions)
    assert headers == ["version", "BLEU-4 · identity", "ROUGE-L · identity", "mmlu_test · accuracy"]
    assert rows[0] == [BASE_MODEL, 5.0, 0.0, 31.0] and rows[1] == ["identity/checkpoint-10", 25.0, 40.0, None]
    assert best == {
        "BLEU-4 · identity": "identity/checkpoint-10",
        "ROUGE-L · identity": "identity/checkpoint-10",
        "mmlu_test · accuracy": BASE_MODEL,
    }
    dataset, compared = compare_predictions(versions[0], versions[1])
    assert dataset == "identity" and [row[-1] for row in compared] == ["≠", "≠"]
    assert compared[0][2] == "<del>Hello hello</del>" and compared[0][3] == "<ins>I am LlamaBoard Assistant</ins>"
    assert compared[1][2:4] == ["Blue <del>sky</del>", "Blue"]
    assert collect(tmp_path / "saves", "Qwen/Qwen2.5-0.5B") == []  # another model's leaderboard is empty


def test_leaderboard_in_the_browser_shows_base_and_two_checkpoints_and_compares_two_rows(app_server, page):
    write_evaluations(app_server.workdir)
    open_page(page, app_server.url)
    page.get_by_role("tab", name="Evaluate & Predict").click()
    page.locator("#eval-leaderboard_accordion").get_by_text("Leaderboard").first.click()
    page.click("#eval-leaderboard_refresh")
    board = page.locator("#eval-leaderboard")
    wait_for(lambda: "identity/checkpoint-10" in board.inner_text(), 30, "the leaderboard rows")
    text = board.inner_text()
    assert BASE_MODEL in text and "identity/checkpoint-5" in text and "mmlu_test · accuracy" in text
    board.locator("span", has_text=BASE_MODEL).first.click()
    board.locator("span", has_text="identity/checkpoint-10").first.click()
    comparison = page.locator("#eval-comparison")
    wait_for(lambda: "LlamaBoard Assistant" in comparison.inner_text(), 30, "the comparison of the two rows")
    assert "2 of 2 answers differ" in page.locator("#eval-leaderboard_note").inner_text()
    screenshot(page, "evaluate_leaderboard")
