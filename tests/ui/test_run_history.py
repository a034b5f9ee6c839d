"""Run states, checkpoints, history rows and monitor rendering, read from hand-written run directories."""

import json
import os
import subprocess
import sys

import yaml
from run_dirs import log_line, write_run

from llamaboard.history import history_rows, history_table
from llamaboard.models import adapter_choices
from llamaboard.monitor import MAX_CHART_POINTS, error_html, last_error_line, loss_figure, progress_html, smooth
from llamaboard.trainer_log import TrainerLogReader
from workflows.run_dir import find_runs, list_checkpoints, read_state


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_history_lists_every_run_with_state_steps_and_last_loss(tmp_path):
    saves = tmp_path / "saves"
    write_run(saves, "done", "finished", steps=30, checkpoints=(10, 20, 30))
    write_run(saves, "live", "running", steps=12)
    write_run(saves, "waiting", None)
    rows = history_rows(find_runs(saves), {saves / "llamaboard-tiny/lora/waiting": "train"}, saves, "en", ("train",))
    by_run = {row.cells[0]: row.cells for row in rows}
    assert by_run["llamaboard-tiny/lora/done"][1:] == (
        "train",
        "llamaboard-tiny",
        "sft",
        "lora",
        "identity",
        "finished",
        "30/30",
        "loss 1.5000",
        "2025-01-02 03:04:05",
    )
    assert by_run["llamaboard-tiny/lora/live"][6:8] == ("running", "12/30")
    assert by_run["llamaboard-tiny/lora/waiting"][6] == "queued"
    table = history_table(rows, "zh")
    assert len(table["data"]) == 3 and table["headers"][0] != "run"


def test_a_running_status_whose_process_is_gone_reads_as_failed(tmp_path):
    run_dir = write_run(tmp_path / "saves", "crashed", "running", pid=dead_pid())
    state = read_state(run_dir)
    assert state.state == "failed" and "running_log.txt" in state.error


def test_a_launched_job_that_died_before_writing_status_reads_as_failed(tmp_path):
    run_dir = write_run(tmp_path / "saves", "early", None)
    (run_dir / "launch.json").write_text(json.dumps({"pid": dead_pid(), "launched_at": "2025-01-01T00:00:00"}))
    assert read_state(run_dir).state == "failed"
    (run_dir / "launch.json").write_text(json.dumps({"pid": os.getpid()}))
    assert read_state(run_dir).state == "starting"


def test_checkpoint_picker_lists_final_adapters_and_every_checkpoint(tmp_path):
    saves = tmp_path / "saves"
    done = write_run(saves, "done", "finished", checkpoints=(5, 10, 100))
    (done / "adapter_config.json").write_text("{}")
    write_run(saves, "stopped", "aborted", checkpoints=(7,))
    write_run(saves, "other", "finished", checkpoints=(3,), model="other-model")
    labels = [label for label, _ in adapter_choices(saves, "llamaboard-tiny", "lora")]
    assert sorted(labels) == sorted(["done", "done/checkpoint-100", "done/checkpoint-10", "done/checkpoint-5", "stopped/checkpoint-7"])
    assert [path.name for path in list_checkpoints(done)] == ["checkpoint-5", "checkpoint-10", "checkpoint-100"]


def test_a_cli_run_with_its_own_output_dir_is_in_the_history_and_the_picker(tmp_path):
    saves = tmp_path / "saves"
    run_dir = saves / "identity"  # python -m workflows train ... output_dir=saves/identity
    (run_dir / "checkpoint-180").mkdir(parents=True)
    (run_dir / "checkpoint-180" / "trainer_state.json").write_text("{}")
    (run_dir / "run.yaml").write_text(
        yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", "stage": "sft", "finetuning_type": "full", "dataset": "identity"})
    )
    (run_dir / "model.safetensors").write_text("")
    assert find_runs(saves) == [run_dir]
    assert [row.cells[0] for row in history_rows(find_runs(saves), {}, saves, "en", ("train",))] == ["identity"]
    assert [label for label, _ in adapter_choices(saves, "llamaboard-tiny", "full")] == ["identity", "identity/checkpoint-180"]
    assert adapter_choices(saves, "llamaboard-tiny", "lora") == []


def test_failed_run_shows_its_last_error_prominently(tmp_path):
    run_dir = write_run(tmp_path / "saves", "bad", "failed", error="DatasetError: data/x.json record 3 has no `output`")
    state = read_state(run_dir)
    banner = error_html(last_error_line(state, "lots of log\n"), "en")
    assert "record 3 has no" in banner and "lb-error" in banner
    assert last_error_line(read_state(write_run(tmp_path / "saves", "ok", "finished")), "x") is None


def test_last_error_falls_back_to_the_logs_last_error_line(tmp_path):
    state = read_state(write_run(tmp_path / "saves", "bad", "failed"))
    log = "step 1\nTraceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n"
    assert last_error_line(state, log) == "RuntimeError: CUDA out of memory"


def test_progress_and_chart_show_steps_eta_throughput_and_both_losses(tmp_path):
    run_dir = write_run(tmp_path / "saves", "live", "running", steps=12)
    with (run_dir / "trainer_log.jsonl").open("a") as handle:
        handle.write('{"current_steps": 12, "total_steps": 30, "eval_loss": 2.2}\n')
    reader = TrainerLogReader(run_dir / "trainer_log.jsonl")
    reader.poll()
    html = progress_html("llamaboard-tiny/lora/live", read_state(run_dir), reader.latest, "en")
    for fact in ("step 12/30", "40%", "elapsed 0:00:05", "ETA 0:00:10", "1500 tokens/s", "running"):
        assert fact in html
    figure = loss_figure(reader, "en")
    assert [trace.name for trace in figure.data] == ["train loss", "train loss (smoothed)", "eval loss"]
    assert list(figure.data[0].x) == list(range(1, 13)) and list(figure.data[2].y) == [2.2]


def test_a_metric_logged_once_is_a_dot_and_many_metrics_push_the_legend_under_the_plot(tmp_path):
    """A kto batch without undesirable answers logs rewards/rejected once: a line alone would draw nothing."""
    path = tmp_path / "trainer_log.jsonl"
    rows = [{"current_steps": 1, "loss": 0.7, "rewards/chosen": 0.1, "kl": 0.0}]
    rows += [{"current_steps": 2, "loss": 0.6, "rewards/chosen": 0.2, "rewards/rejected": -0.1, "rewards/margins": 0.3, "kl": 0.1}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    reader = TrainerLogReader(path)
    reader.poll()
    figure = loss_figure(reader, "en")
    by_name = {trace.name: trace for trace in figure.data}
    assert list(by_name["rewards/rejected"].x) == [2] and "markers" in by_name["rewards/rejected"].mode
    assert figure.layout.legend.y < 0  # under the plot, with room made for its rows
    assert figure.layout.margin.b > 50 and figure.layout.height > 320


def test_smoothing_keeps_the_length_and_damps_noise():
    noisy = [3.0, 1.0] * 20
    smoothed = smooth(noisy)
    assert len(smoothed) == len(noisy) and max(smoothed[10:]) - min(smoothed[10:]) < 1.0


def test_a_long_run_is_thinned_for_the_chart_but_keeps_its_ends(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text("".join(log_line(step, total=9000, loss=1.0) for step in range(1, 9001)))
    reader = TrainerLogReader(path)
    reader.poll()
    figure = loss_figure(reader, "en")
    steps = list(figure.data[0].x)
    assert len(steps) <= MAX_CHART_POINTS + 1 and steps[0] == 1 and steps[-1] == 9000
    assert len(figure.data[1].x) == len(steps)


def write_job(saves, name: str, kind: str, config: dict) -> None:
    job = saves / "llamaboard-tiny" / kind / name
    job.mkdir(parents=True)
    (job / "run.yaml").write_text(yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", **config}))
    (job / "status.json").write_text(json.dumps({"kind": kind, "state": "finished", "pid": 1}))


def test_each_job_shows_the_data_it_read_cli_eval_and_predict_jobs_their_eval_dataset(tmp_path):
    saves = tmp_path / "saves"
    write_job(saves, "cli_predict", "predict", {"eval_dataset": "identity"})
    write_job(saves, "cli_loss", "eval", {"eval_dataset": "alpaca_en_demo"})
    write_job(saves, "both", "predict", {"dataset": "train_set", "eval_dataset": "held_out"})  # predict reads eval_dataset first
    write_job(saves, "mmlu", "eval", {"task": "mmlu_test"})
    rows = history_rows(find_runs(saves), {}, saves, "en", ("eval", "predict"))
    assert {row.cells[0].rsplit("/", 1)[1]: row.cells[5] for row in rows} == {
        "cli_predict": "identity",
        "cli_loss": "alpaca_en_demo",
        "both": "held_out",
        "mmlu": "mmlu_test",
    }


def test_every_job_kind_has_its_own_label_and_an_eval_job_is_not_called_a_benchmark(tmp_path):
    """A loss / perplexity eval job is kind ``eval`` too: its label must fit both it and a benchmark."""
    from llamaboard.locales import languages, message
    from workflows.run_dir import JOB_KINDS

    for lang in languages():
        labels = [message(lang, f"kind_{kind}") for kind in JOB_KINDS]
        assert len(set(labels)) == len(JOB_KINDS) and all(labels), (lang, labels)
        assert message(lang, "kind_eval").casefold() not in message(lang, "eval_mode_benchmark").casefold(), lang
    saves = tmp_path / "saves"
    write_job(saves, "loss", "eval", {"eval_dataset": "identity"})
    (row,) = history_rows(find_runs(saves), {}, saves, "en", ("eval",))
    assert row.cells[1] == "evaluate"
