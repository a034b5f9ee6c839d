"""Benchmarks (`python -m workflows eval` with a `task`) on the shared MMLU / C-Eval / CMMLU subsets.

The scoring tests plug a *scripted* logits source into the real scorer: it
reads the question the prompt asks and puts all its weight on a letter chosen
by the test (the right one, or always "A"). So they check prompt building,
choice-token scoring and per-subject/category aggregation against known
answers, not the tiny model's (random) skill.
"""

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from workflows.cli import main
from workflows.config import load_config
from workflows.eval.benchmark import CATEGORIES, load_benchmark
from workflows.eval.benchmark_job import load_task, run_benchmark
from workflows.eval.scoring import ChoiceScorer, choice_token_ids, prompt_encoder
from workflows.run_dir import RunDirectory

TASKS = {"mmlu_test": "en", "ceval_validation": "zh", "cmmlu_test": "zh"}
ANSWER_WORD = {"en": "\nAnswer:", "zh": "\n答案："}


@pytest.fixture(scope="module")
def eval_dir(fixtures_dir) -> Path:
    return fixtures_dir / "eval"


def raw_rows(path: Path) -> list[list[str]]:
    """The CSV rows as written, header dropped (MMLU has none), read here independently of the engine's reader."""
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    return rows[1:] if "question" in [cell.lower() for cell in rows[0]] else rows


@pytest.mark.parametrize("task", TASKS)
def test_every_subject_file_is_read_with_its_dialect(eval_dir, task):
    bench, split = task.split("_")
    folder = {"test": "test", "validation": "val"}[split]
    benchmark = load_benchmark(task, str(eval_dir), n_shot=5)
    files = sorted((eval_dir / bench / folder).glob("*.csv"))
    assert len(benchmark.subjects) == len(files) == 4
    for subject in benchmark.subjects:
        path = next(file for file in files if file.stem in (subject.key, f"{subject.key}_{folder}"))
        rows = raw_rows(path)
        assert len(subject.questions) == len(rows)
        first = subject.questions[0]
        assert first.question in rows[0] and first.answer in rows[0] and first.choices["D"] in rows[0]
        assert len(subject.dev) == 5 and subject.category in CATEGORIES


class ScriptedLogits:
    """A scripted stand-in for a model: all weight on the letter ``pick(question)`` names, for the question the prompt asks last."""

    def __init__(self, tokenizer, lookup: dict[str, object], pick, after_call=None):
        self.tokenizer, self.lookup, self.pick, self.after_call = tokenizer, lookup, pick, after_call
        self.ids = dict(zip("ABCD", choice_token_ids(tokenizer)))

    def __call__(self, prompts):
        rows = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            asked = text.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
            rows.append(defaultdict(float, {self.ids[self.pick(self.lookup[asked])]: 1.0}))
        if self.after_call:
            self.after_call()
        return rows


class NoStop:
    received = None


def scripted_run(task, eval_dir, tmp_path, pick, stop=None, after_call=None):
    from workflows.models.loader import load_tokenizer

    lang = TASKS[task]
    config = load_config(None, [f"task={task}", f"task_dir={eval_dir}", "n_shot=1", "batch_size=16"])
    benchmark = load_task(config)
    lookup = {  # the asked turn as LLaMA-Factory words it, written out here independently of workflows.eval.prompts
        question.question + "".join(f"\n{letter}. {question.choices[letter]}" for letter in "ABCD") + ANSWER_WORD[lang]: question
        for subject in benchmark.subjects
        for question in subject.questions
    }
    tokenizer = load_tokenizer(config.model, padding_side="left")
    scorer = ChoiceScorer(
        prompt_encoder(config, tokenizer), choice_token_ids(tokenizer), ScriptedLogits(tokenizer, lookup, pick, after_call)
    )
    run_dir = RunDirectory(tmp_path, "eval")
    outcome = run_benchmark(config, benchmark, run_dir, stop or NoStop(), scorer)
    return benchmark, outcome, json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", TASKS)
def test_a_model_that_always_prefers_the_right_letter_scores_100(tiny_model_dir, eval_dir, tmp_path, task):
    benchmark, outcome, results = scripted_run(task, eval_dir, tmp_path, pick=lambda question: question.answer)
    assert outcome.state == "finished" and results["complete"]
    assert results["scored"] == results["total"] == benchmark.question_count
    assert set(results["subjects"]) == {subject.key for subject in benchmark.subjects}
    assert set(results["categories"]) == {"Average", *CATEGORIES}
    for name, count in results["categories"].items():
        assert count["accuracy"] == (100.0 if count["total"] else None), name
    assert results["categories"]["Average"]["total"] == benchmark.question_count
    answers = [json.loads(line) for line in (tmp_path / "benchmark_answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(answers) == benchmark.question_count and all(row["correct"] for row in answers)


@pytest.mark.parametrize("task", TASKS)
def test_a_model_that_always_says_a_scores_the_share_of_a_answers(tiny_model_dir, eval_dir, tmp_path, task):
    benchmark, _, results = scripted_run(task, eval_dir, tmp_path, pick=lambda question: "A")
    bench, split = task.split("_")
    folder = {"test": "test", "validation": "val"}[split]
    answer_column = {"mmlu": 5, "ceval": 6, "cmmlu": 6}[bench]
    share_total = [0, 0]
    for subject in benchmark.subjects:
        path = next((eval_dir / bench / folder).glob(f"{subject.key}*.csv"))
        answers = [row[answer_column] for row in raw_rows(path)]
        expected = 100 * answers.count("A") / len(answers)
        assert results["subjects"][subject.key]["accuracy"] == pytest.approx(expected, abs=1e-4), subject.key
        share_total[0] += answers.count("A")
        share_total[1] += len(answers)
    assert results["categories"]["Average"]["accuracy"] == pytest.approx(100 * share_total[0] / share_total[1], abs=1e-4)
    assert 0 < results["categories"]["Average"]["accuracy"] < 100


def test_a_stopped_benchmark_keeps_its_partial_scores(tiny_model_dir, eval_dir, tmp_path):
    stop = NoStop()

    def signal_after_first_batch():
        stop.received = "SIGTERM"

    benchmark, outcome, results = scripted_run(
        "mmlu_test", eval_dir, tmp_path, pick=lambda question: question.answer, stop=stop, after_call=signal_after_first_batch
    )
    assert outcome.state == "aborted" and "16 of 564" in outcome.note
    assert results["complete"] is False and results["scored"] == 16 and results["total"] == benchmark.question_count
    assert results["categories"]["Average"] == {"accuracy": 100.0, "correct": 16, "total": 16}
    assert "Average: 100.00" in (tmp_path / "results.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("task", TASKS)
def test_eval_command_on_the_tiny_model_writes_every_subject_and_category(tiny_model_dir, eval_dir, tmp_path, monkeypatch, capsys, task):
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")
    code = main(["eval", f"task={task}", f"task_dir={eval_dir}", "max_samples=3", "n_shot=1", f"save_dir={tmp_path}"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    status = json.loads((tmp_path / "status.json").read_text(encoding="utf-8"))
    assert (status["kind"], status["state"]) == ("eval", "finished")
    assert results["complete"] and results["scored"] == 12 and results["lang"] == TASKS[task]
    assert set(results["categories"]) == {"Average", *CATEGORIES} and len(results["subjects"]) == 4
    assert all(subject["total"] == 3 for subject in results["subjects"].values())
    assert "        Average: " in capsys.readouterr().out


def bad_eval(tmp_path, monkeypatch, *overrides):
    monkeypatch.setenv("LLAMABOARD_LOG_TO_STDOUT_ONLY", "1")
    out = tmp_path / "out"
    code = main(["eval", *overrides, f"save_dir={out}"])
    status = json.loads((out / "status.json").read_text(encoding="utf-8")) if (out / "status.json").exists() else {}
    assert code == 2
    assert not (out / "results.json").exists() and not (out / "benchmark_answers.jsonl").exists()
    return status.get("error") or ""


def test_bad_benchmark_input_is_a_clear_error_and_writes_no_results(eval_dir, tmp_path, monkeypatch, capsys):
    import shutil

    assert "Unknown task `mmlu2_test`" in bad_eval(tmp_path, monkeypatch, "task=mmlu2_test", f"task_dir={eval_dir}")
    assert "`task: mmlu`" in bad_eval(tmp_path, monkeypatch, "task=mmlu", f"task_dir={eval_dir}")
    assert "ceval/test/art_studies_test.csv has no answer" in bad_eval(tmp_path, monkeypatch, "task=ceval_test", f"task_dir={eval_dir}")
    assert "`n_shot: 6` is larger than the 5 examples" in bad_eval(
        tmp_path, monkeypatch, "task=mmlu_test", f"task_dir={eval_dir}", "n_shot=6"
    )

    broken = tmp_path / "broken"
    shutil.copytree(eval_dir / "mmlu", broken / "mmlu")
    (broken / "mmlu" / "dev" / "virology_dev.csv").unlink()
    assert "mmlu/dev/virology_dev.csv is missing" in bad_eval(tmp_path, monkeypatch, "task=mmlu_test", f"task_dir={broken}")
    shutil.rmtree(broken / "mmlu" / "test")
    assert "has no question files" in bad_eval(tmp_path, monkeypatch, "task=mmlu_test", f"task_dir={broken}", "n_shot=0")
    (broken / "mmlu" / "mapping.json").unlink()
    assert "mmlu/mapping.json is missing" in bad_eval(tmp_path, monkeypatch, "task=mmlu_test", f"task_dir={broken}")


def test_an_adapter_of_another_base_model_is_refused(eval_dir, tmp_path, monkeypatch):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "peft_type": "LORA"}))
    error = bad_eval(tmp_path, monkeypatch, "task=mmlu_test", f"task_dir={eval_dir}", f"adapter_name_or_path={adapter}")
    assert "was trained on `Qwen/Qwen2.5-0.5B-Instruct`" in error and "model_name_or_path is `llamaboard-tiny`" in error
