"""`python -m workflows eval` with a `task`: score a model on a multiple-choice benchmark, as a job.

The run directory (``save_dir`` or ``output_dir``; default
``saves/<model>/eval/eval_<time>``) holds, besides the job files every kind
writes (``run.yaml``, ``status.json``, ``running_log.txt``, progress rows in
``trainer_log.jsonl`` counted in questions):

- ``results.json``: scores per subject, per category and Average (format in
  ``workflows/eval/results.py``), rewritten after every batch with
  ``"complete": false`` until the last one;
- ``results.log``: the printed table;
- ``benchmark_answers.jsonl``: one ``{"subject", "index", "answer", "predict",
  "correct"}`` per question scored, in order.

The task's files are read and checked before the model is loaded, so bad input
fails in seconds and writes no results. SIGTERM stops after the current batch;
what was scored so far stays in results.json (``complete`` false, status
``aborted``). Benchmarks run on transformers whatever ``infer_backend`` says:
scoring needs logits, not generated text.
"""

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Optional

from workflows.config import RunConfig
from workflows.eval.benchmark import Benchmark, default_lang, load_benchmark, parse_task
from workflows.eval.prompts import WORDINGS, question_messages
from workflows.eval.results import Tally
from workflows.eval.scoring import ChoiceScorer
from workflows.jobs import Outcome, ProgressLog, StopSignal
from workflows.run_dir import EVAL_ANSWERS_FILE, EVAL_LOG_FILE, EVAL_RESULTS_FILE, RunDirectory, write_json_atomic

logger = logging.getLogger("workflows")


def load_task(config: RunConfig) -> Benchmark:
    """The benchmark of ``task``, checked, with at most ``max_samples`` questions per subject."""
    args = config.evaluation
    benchmark = load_benchmark(args.task, args.task_dir, args.n_shot)
    limit = config.data.max_samples
    if limit:
        benchmark = replace(benchmark, subjects=[replace(subject, questions=subject.questions[:limit]) for subject in benchmark.subjects])
    return benchmark


def run_benchmark(config: RunConfig, benchmark: Benchmark, run_dir: RunDirectory, stop: StopSignal, scorer: ChoiceScorer) -> Outcome:
    """Score every question batch by batch, keeping results.json current; print the table at the end."""
    args = config.evaluation
    lang = args.lang or default_lang(parse_task(args.task)[0])
    header = {
        "task": args.task,
        "lang": lang,
        "n_shot": args.n_shot,
        "model": config.model.model_name_or_path,
        "adapter": config.model.adapter_name_or_path,
    }
    tally = Tally(benchmark)
    progress = ProgressLog(run_dir, benchmark.question_count, unit="question")
    progress.update(0)
    done = 0
    with (run_dir.path / EVAL_ANSWERS_FILE).open("w", encoding="utf-8") as answers_file:
        for subject in benchmark.subjects:
            logger.info("Subject %s (%d questions)", subject.name, len(subject.questions))
            for start in range(0, len(subject.questions), args.batch_size):
                if stop.received:
                    return _finish(run_dir, tally, header, complete=False, note=_stopped_note(stop.received, done, benchmark))
                indices = range(start, min(start + args.batch_size, len(subject.questions)))
                predictions = scorer.answer(
                    [question_messages(subject, index, args.n_shot, config.training.seed, WORDINGS[lang]) for index in indices]
                )
                answers = [subject.questions[index].answer for index in indices]
                tally.add(subject.key, predictions, answers)
                for index, predict, answer in zip(indices, predictions, answers):
                    row = {"subject": subject.key, "index": index, "answer": answer, "predict": predict, "correct": predict == answer}
                    answers_file.write(json.dumps(row, ensure_ascii=False) + "\n")
                answers_file.flush()
                done += len(indices)
                write_json_atomic(run_dir.path / EVAL_RESULTS_FILE, tally.as_json(False, header))
                progress.update(done)
    return _finish(run_dir, tally, header, complete=True)


def _finish(run_dir: RunDirectory, tally: Tally, header: dict, complete: bool, note: Optional[str] = None) -> Outcome:
    write_json_atomic(run_dir.path / EVAL_RESULTS_FILE, tally.as_json(complete, header))
    table = tally.table()
    (run_dir.path / EVAL_LOG_FILE).write_text(table + "\n", encoding="utf-8")
    print(table, flush=True)
    print(f"Wrote {Path(run_dir.path) / EVAL_RESULTS_FILE}", flush=True)
    return Outcome("finished") if complete else Outcome("aborted", note)


def _stopped_note(signal_name: str, done: int, benchmark: Benchmark) -> str:
    return f"Aborted by {signal_name} after {done} of {benchmark.question_count} questions (partial scores kept in {EVAL_RESULTS_FILE})."
