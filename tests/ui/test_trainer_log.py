"""The trainer log reader reads only new bytes, waits for partial lines and follows a resume's truncation."""

from run_dirs import log_line

from llamaboard.trainer_log import TrainerLogReader


def test_each_poll_reads_only_the_bytes_appended_since_the_last(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(log_line(1) + log_line(2))
    reader = TrainerLogReader(path)
    assert reader.poll() and [step for step, _ in reader.train_points] == [1, 2]
    offset = reader.offset
    assert offset == path.stat().st_size
    assert reader.poll() is False
    with path.open("a") as handle:
        handle.write(log_line(3))
    assert reader.poll() and [step for step, _ in reader.train_points] == [1, 2, 3]
    assert reader.offset == offset + len(log_line(3).encode())


def test_a_partial_last_line_is_read_once_complete(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    line = log_line(1)
    path.write_text(line[:20])
    reader = TrainerLogReader(path)
    assert reader.poll() is False and reader.records == [] and reader.offset == 0
    with path.open("a") as handle:
        handle.write(line[20:])
    assert reader.poll() and reader.latest["current_steps"] == 1


def test_eval_loss_lines_become_the_eval_curve(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(log_line(5) + '{"current_steps": 5, "total_steps": 30, "eval_loss": 2.5}\n' + log_line(10))
    reader = TrainerLogReader(path)
    reader.poll()
    assert reader.eval_points == [(5, 2.5)]
    assert reader.latest["current_steps"] == 10


def test_a_resumed_run_truncating_the_log_replaces_the_later_steps(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text("".join(log_line(step) for step in range(1, 13)))
    reader = TrainerLogReader(path)
    reader.poll()
    # resume from checkpoint-10: the engine truncates back to step 10, then logs 11, 12, ... again
    path.write_text("".join(log_line(step) for step in range(1, 11)))
    reader.poll()
    with path.open("a") as handle:
        handle.write(log_line(11, loss=9.0) + log_line(12, loss=9.0) + log_line(13, loss=9.0) + log_line(14, loss=9.0))
    reader.poll()
    assert [step for step, _ in reader.train_points] == list(range(1, 15))
    assert dict(reader.train_points)[11] == 9.0


def test_a_log_that_restarts_below_the_read_offset_is_read_again(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text("".join(log_line(step) for step in range(1, 20)))
    reader = TrainerLogReader(path)
    reader.poll()
    path.write_text(log_line(1, loss=7.0))
    reader.poll()
    assert reader.train_points == [(1, 7.0)]


def test_a_missing_log_means_no_points(tmp_path):
    reader = TrainerLogReader(tmp_path / "trainer_log.jsonl")
    assert reader.poll() is False and reader.latest is None
