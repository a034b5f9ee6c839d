"""The fork server starts jobs that behave exactly like ``python -m workflows ...`` started afresh, and ends with its UI."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import PROJECT_ROOT
from workflows.forkserver import ForkServer, available, same_import_environment
from workflows.run_dir import pid_alive

pytestmark = pytest.mark.skipif(not available(dict(os.environ)), reason="the fork server runs only on machines without a GPU driver")


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server():
    server = ForkServer()
    server.start()
    wait_for(server.socket_path.exists, 180, "the fork server to listen")
    yield server
    server.stop()


def finished_state(run_dir: Path) -> str:
    wait_for(
        lambda: (
            json.loads((run_dir / "status.json").read_text() or "{}").get("state") in ("finished", "failed", "aborted")
            if (run_dir / "status.json").exists()
            else False
        ),
        180,
        f"{run_dir.name} to end",
    )
    return json.loads((run_dir / "status.json").read_text())["state"]


def test_forked_jobs_run_in_their_folder_with_their_environment_and_decide_their_own_imports(server, tmp_path, tiny_model_dir):
    modules_before = server.module_count()
    config = PROJECT_ROOT / "examples/tiny_lora_sft.yaml"
    dataset_dir = PROJECT_ROOT / "data"
    runs = {}
    for method, console_only in (("full", "1"), ("lora", "")):
        args = ["train", str(config), f"output_dir=runs/{method}", f"dataset_dir={dataset_dir}", "max_steps=1", f"finetuning_type={method}"]
        env = {**os.environ, "LLAMABOARD_LOG_TO_STDOUT_ONLY": console_only}
        console = tmp_path / f"{method}.console.txt"
        pid = server.fork_job(args, tmp_path, env, console)
        assert pid and pid_alive(pid)
        assert os.getpgid(pid) == pid  # its own process group: the UI's Abort signals the job, not the server
        # ps and top show the job's own command, not the server's
        wait_for(lambda pid=pid: " -m workflows train " in " ".join(psutil.Process(pid).cmdline()), 10, "the job to show its command")
        runs[method] = run_dir = tmp_path / "runs" / method  # output_dir is relative to the job's folder
        assert finished_state(run_dir) == "finished", console.read_text()[-2000:]
        wait_for(lambda pid=pid: not pid_alive(pid), 30, "the ended job to be reaped")
        assert "Train finished" in console.read_text()
    # the job's own environment: without LLAMABOARD_LOG_TO_STDOUT_ONLY it also writes running_log.txt itself
    assert not (runs["full"] / "running_log.txt").exists() and (runs["lora"] / "running_log.txt").exists()
    loaded = {method: json.loads((run_dir / "provenance.json").read_text())["loaded_optional_packages"] for method, run_dir in runs.items()}
    assert loaded == {"full": [], "lora": ["peft"]}  # each fork still imports only what its run uses
    assert server.module_count() == modules_before  # the server itself never ran a job


def test_a_job_with_another_import_time_environment_is_not_forked(server, tmp_path):
    assert same_import_environment({"HF_HOME": "/a", "PATH": "/bin"}, {"HF_HOME": "/a", "PATH": "/usr/bin", "LLAMABOARD_X": "1"})
    assert not same_import_environment({"HF_HOME": "/a"}, {"HF_HOME": "/b"})
    assert not same_import_environment({}, {"OMP_NUM_THREADS": "4"})
    other = {**os.environ, "HF_HOME": str(tmp_path)}
    assert server.fork_job(["version"], tmp_path, other, tmp_path / "log.txt") is None


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    starter = subprocess.run(
        [sys.executable, "-c", "from workflows.forkserver import ForkServer; s = ForkServer(); s.start(); print(s._process.pid)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    server_pid = int(starter.stdout.strip())
    wait_for(lambda: not pid_alive(server_pid), 180, "the orphaned fork server to end")
