"""Non-training jobs go through the same queue, run directory and history as training (a real predict subprocess), and
the history shows every kind with its headline result."""

import json
import shutil
import time

import yaml
from conftest import PROJECT_ROOT
from run_dirs import write_run

from llamaboard.history import history_rows
from llamaboard.paths import Workspace
from llamaboard.run_builder import create_run_dir, prepare_run
from llamaboard.run_queue import RunQueue
from workflows.run_dir import find_runs, read_state

PREDICT_FORM = {
    "model_name_or_path": "llamaboard-tiny",
    "finetuning_type": "lora",
    "dataset": "identity",
    "dataset_dir": "data",
    "max_samples": 3,
    "max_new_tokens": 4,
    "do_sample": False,
    "per_device_eval_batch_size": 3,
}


def test_a_predict_job_waits_in_the_queue_behind_training_then_runs_and_shows_in_the_history(tmp_path, tiny_model_dir):
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    queue = RunQueue(workspace.workdir)
    training = write_run(workspace.saves_dir, "training", "running")  # this test process stands in for a live training job
    job = prepare_run(PREDICT_FORM, "predict1", [], workspace, kind="predict")
    create_run_dir(job)
    assert job.run_dir == workspace.saves_dir / "llamaboard-tiny" / "predict" / "predict1"
    assert f"-m workflows predict {job.run_dir / 'run.yaml'}" in job.launch.shell_command(workspace.workdir)

    assert queue.submit(job.launch) == "queued"
    rows = {
        row.cells[0]: row
        for row in history_rows(find_runs(workspace.saves_dir), queue.queued_kinds(), workspace.saves_dir, "en", ("predict",))
    }
    assert list(rows) == ["llamaboard-tiny/predict/predict1"]
    assert (
        rows["llamaboard-tiny/predict/predict1"].cells[1] == "predict" and rows["llamaboard-tiny/predict/predict1"].state.state == "queued"
    )

    status = json.loads((training / "status.json").read_text())
    (training / "status.json").write_text(json.dumps({**status, "state": "finished"}))
    assert queue.advance() == job.run_dir
    deadline = time.monotonic() + 180
    while read_state(job.run_dir).state in ("starting", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
    state = read_state(job.run_dir)
    assert (state.kind, state.state) == ("predict", "finished"), (job.run_dir / "running_log.txt").read_text()[-2000:]

    (row,) = history_rows(find_runs(workspace.saves_dir), {}, workspace.saves_dir, "en", ("predict",))
    kind, state_text, steps, result = row.cells[1], row.cells[6], row.cells[7], row.cells[8]
    assert (kind, state_text, steps) == ("predict", "finished", "3/3")
    assert result.startswith("BLEU-4 ")
    # the training panel does not list it: each tab's history shows its own kinds
    assert [row.cells[0] for row in history_rows(find_runs(workspace.saves_dir), {}, workspace.saves_dir, "en", ("train",))] == [
        "llamaboard-tiny/lora/training"
    ]


def test_the_history_shows_each_kind_of_job_with_its_headline_result(tmp_path):
    """Benchmark average, eval loss and export check, read from the files each job writes (formats of workflows/run_dir.py)."""
    saves = tmp_path / "saves"
    average = {"categories": {"Average": {"accuracy": 31.25, "correct": 5, "total": 16}}}
    jobs = {
        "eval/mmlu": ("eval", {"task": "mmlu_test"}, {"results.json": average}),
        "eval/loss": ("eval", {"dataset": "identity"}, {"eval_results.json": {"eval_loss": 1.23456, "perplexity": 3.437}}),
        "export/good": ("export", {}, {"export_check.json": {"passed": True, "checks": []}}),
        "export/bad": ("export", {}, {"export_check.json": {"passed": False, "checks": []}}),
    }
    for name, (kind, config, files) in jobs.items():
        job = saves / "llamaboard-tiny" / name
        job.mkdir(parents=True)
        (job / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", **config}))
        (job / "status.json").write_text(json.dumps({"kind": kind, "state": "finished", "pid": 1}))
        for file_name, payload in files.items():
            (job / file_name).write_text(json.dumps(payload))
    rows = history_rows(find_runs(saves), {}, saves, "en", ("eval", "export"))
    assert {row.cells[0]: (row.state.kind, row.cells[5], row.cells[8]) for row in rows} == {
        "llamaboard-tiny/eval/mmlu": ("eval", "mmlu_test", "avg 31.25%"),
        "llamaboard-tiny/eval/loss": ("eval", "identity", "eval loss 1.2346"),
        "llamaboard-tiny/export/good": ("export", "", "check passed"),
        "llamaboard-tiny/export/bad": ("export", "", "check failed"),
    }
    assert history_rows(find_runs(saves), {}, saves, "en", ("train",)) == []
