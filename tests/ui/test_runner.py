"""Form values -> run.yaml and command; the queue; launch settings. No browser, no training."""

import json
import os
import time

import pytest
import yaml
from run_dirs import write_run

from llamaboard import launcher
from llamaboard.controls import FieldSpec
from llamaboard.paths import PathNotAllowedError, Workspace
from llamaboard.run_builder import create_run_dir, prepare_run
from llamaboard.run_queue import RunQueue
from workflows.config import RunConfig, load_config
from workflows.errors import ConfigError
from workflows.run_dir import read_state
from workflows.web_settings import settings_from_env

FORM = {
    "model_name_or_path": "llamaboard-tiny",
    "finetuning_type": "lora",
    "stage": "sft",
    "dataset": "identity",
    "dataset_dir": "data",
    "learning_rate": 1e-3,
    "max_steps": 30,
}


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    (tmp_path / "data").mkdir()
    return Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})


def test_start_writes_exactly_the_yaml_the_preview_shows_and_the_cli_reads_it(workspace):
    run = prepare_run(FORM, "run1", ["cpu"], workspace)
    create_run_dir(run)
    written = (run.run_dir / "run.yaml").read_text()
    assert written == run.yaml_text
    assert run.run_dir == workspace.saves_dir / "llamaboard-tiny" / "lora" / "run1"
    assert load_config(run.run_dir / "run.yaml") == run.config
    assert yaml.safe_load(written)["output_dir"] == str(run.run_dir)
    command = run.launch.shell_command(workspace.workdir)
    assert f"-m workflows train {run.run_dir / 'run.yaml'}" in command and command.endswith("running_log.txt 2>&1")


def test_invalid_form_values_name_the_key_and_create_nothing(workspace):
    with pytest.raises(ConfigError, match="learning_rate"):
        prepare_run({**FORM, "learning_rate": -1}, "run1", [], workspace)
    with pytest.raises(ConfigError, match="quantization_bit"):
        prepare_run({**FORM, "quantization_bit": 4, "finetuning_type": "full"}, "run1", [], workspace)
    with pytest.raises(PathNotAllowedError):
        prepare_run({**FORM, "dataset_dir": "../elsewhere"}, "run1", [], workspace)
    with pytest.raises(PathNotAllowedError):
        prepare_run(FORM, "../run1", [], workspace)
    assert not workspace.saves_dir.exists()


def test_a_used_run_name_is_refused_rather_than_overwritten(workspace):
    create_run_dir(prepare_run(FORM, "run1", [], workspace))
    with pytest.raises(ConfigError, match="already exists"):
        create_run_dir(prepare_run(FORM, "run1", [], workspace))


def test_a_second_start_is_queued_and_starts_when_the_first_ends(workspace, monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "start", lambda launch, workdir: started.append(launch.run_dir) or 1)
    queue = RunQueue(workspace.workdir)
    first = write_run(workspace.saves_dir, "first", "running")  # this test process stands in for the job
    second = prepare_run(FORM, "second", [], workspace)
    create_run_dir(second)
    assert queue.submit(second.launch) == "queued"
    assert queue.advance() is None and started == []
    assert json.loads((workspace.saves_dir / "queue.json").read_text())["queue"][0]["run_dir"] == str(second.run_dir)
    status = json.loads((first / "status.json").read_text())
    (first / "status.json").write_text(json.dumps({**status, "state": "finished"}))
    assert queue.advance() == second.run_dir and started == [second.run_dir]
    assert queue.entries() == []


def test_queued_runs_can_be_removed(workspace, monkeypatch):
    monkeypatch.setattr(launcher, "start", lambda launch, workdir: 1)
    write_run(workspace.saves_dir, "first", "running")
    queue = RunQueue(workspace.workdir)
    runs = [prepare_run(FORM, name, [], workspace) for name in ("a", "b")]
    for run in runs:
        create_run_dir(run)
        queue.submit(run.launch)
    assert queue.remove(runs[0].run_dir) and not queue.remove(runs[0].run_dir)
    assert [entry.run_dir for entry in queue.entries()] == [runs[1].run_dir]


class ShellLaunch(launcher.Launch):
    """A launch whose process is a short shell script instead of a training job."""

    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", "echo hello from the job; sleep 30"]


def test_a_job_is_started_detached_with_its_output_in_running_log_and_abort_ends_its_group(workspace):
    run_dir = workspace.saves_dir / "m" / "lora" / "shell"
    run_dir.mkdir(parents=True)
    pid = launcher.start(ShellLaunch(run_dir), workspace.workdir)
    assert os.getpgid(pid) == pid != os.getpgrp()
    assert json.loads((run_dir / "launch.json").read_text())["pid"] == pid
    log = run_dir / "running_log.txt"
    deadline = time.monotonic() + 10
    while "hello from the job" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hello from the job" in log.read_text()
    assert launcher.abort(run_dir)
    while read_state(run_dir).is_active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_state(run_dir).state == "failed"  # it never wrote status.json: the UI says so instead of "running"


@pytest.mark.parametrize(
    ("environ", "auth_required"),
    [
        ({}, False),
        ({"GRADIO_SERVER_NAME": "127.0.0.1"}, False),
        ({"GRADIO_SERVER_NAME": "localhost"}, False),
        ({"GRADIO_SERVER_NAME": "::1"}, False),
        ({"GRADIO_SERVER_NAME": "0.0.0.0"}, True),
        ({"GRADIO_SERVER_NAME": "192.168.1.5"}, True),
        ({"GRADIO_SHARE": "1"}, True),
        ({"GRADIO_SHARE": "true"}, True),
    ],
)
def test_exposed_launches_require_a_login(environ, auth_required):
    settings = settings_from_env(environ)
    assert (settings.auth is not None) is auth_required
    if auth_required:
        assert settings.password_generated and len(settings.auth[1]) >= 12


def test_llamaboard_auth_sets_the_login_and_env_sets_port_and_root_path():
    settings = settings_from_env(
        {"GRADIO_SHARE": "1", "LLAMABOARD_AUTH": "alice:s3cret:with:colons", "GRADIO_SERVER_PORT": "7999", "GRADIO_ROOT_PATH": "/board"}
    )
    assert settings.auth == ("alice", "s3cret:with:colons") and not settings.password_generated
    assert settings.server_port == 7999 and settings.root_path == "/board" and settings.share
    assert settings_from_env({}).server_name == "127.0.0.1"
    assert settings_from_env({"LLAMABOARD_AUTH": "bob:pw"}).auth == ("bob", "pw")  # a chosen password guards loopback too


def test_config_values_round_trip_through_the_form_controls():
    config = RunConfig.from_flat_dict(
        {**FORM, "quantization_bit": 4, "packing": True, "max_samples": 100, "report_to": "none", "template": "qwen"}
    )
    flat = config.to_flat_dict()
    specs = {key: FieldSpec.of(key, "names" if key == "dataset" else None) for key in flat if key != "resume_from_checkpoint"}
    back = {key: spec.from_form(spec.to_form(flat[key])) for key, spec in specs.items()}
    assert RunConfig.from_flat_dict(back) == config


def test_chosen_gpus_become_the_jobs_cuda_visible_devices_through_the_uis_own(monkeypatch):
    from llamaboard import devices

    monkeypatch.setattr(devices, "detect_devices", lambda: ("cuda:0 NVIDIA H100", "cuda:1 NVIDIA H100"))
    assert devices.device_env(["cuda:1 NVIDIA H100"], {}) == {"CUDA_VISIBLE_DEVICES": "1"}
    assert devices.device_env(["cuda:0 NVIDIA H100", "cuda:1 NVIDIA H100"], {"CUDA_VISIBLE_DEVICES": "2,3"}) == {
        "CUDA_VISIBLE_DEVICES": "2,3"
    }
    assert devices.device_env(["cuda:1 NVIDIA H100"], {"CUDA_VISIBLE_DEVICES": "2,3"}) == {"CUDA_VISIBLE_DEVICES": "3"}
    monkeypatch.setattr(devices, "detect_devices", lambda: ("cpu",))
    assert devices.device_env(["cpu"], {}) == {}
