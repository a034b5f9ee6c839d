"""The app process itself: the queue moves on with no browser connected, and a restarted app reattaches.

Runs here are hand-written run directories whose "job" is a sleep process this
test controls, so no training is needed.
"""

import json
import subprocess
import sys
import time

import pytest
import yaml
from browser_helpers import chart_points, open_page, wait_for
from conftest import AppServer, make_workdir
from run_dirs import write_run

pytestmark = pytest.mark.timeout(120)


def sleeping_job() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_queue_advances_without_a_browser_when_the_running_job_ends(tmp_path):
    workdir = make_workdir(tmp_path)
    job = sleeping_job()
    try:
        write_run(workdir / "saves", "current", "running", steps=3, pid=job.pid)
        queued = write_run(workdir / "saves", "next", None)
        # a config the engine rejects at once: the test needs the queued job to start, not to train
        (queued / "run.yaml").write_text(
            yaml.safe_dump({"model_name_or_path": "llamaboard-tiny", "learning_rate": -1, "output_dir": str(queued)})
        )
        (workdir / "saves" / "queue.json").write_text(json.dumps({"queue": [{"run_dir": str(queued), "overrides": [], "env": {}}]}))
        server = AppServer(workdir, {}, tmp_path / "app.log")
        try:
            time.sleep(3)
            assert not (queued / "launch.json").exists(), "started while another run was going"
            job.kill()
            job.wait()
            wait_for(lambda: (queued / "launch.json").exists(), 20, "the queued run to start")
            assert json.loads((workdir / "saves" / "queue.json").read_text())["queue"] == []
            wait_for(lambda: "learning_rate" in (queued / "running_log.txt").read_text(), 60, "the job's own error in running_log.txt")
        finally:
            server.stop()
    finally:
        job.kill()


def test_a_restarted_app_shows_the_live_run_again(tmp_path, page):
    workdir = make_workdir(tmp_path)
    job = sleeping_job()
    try:
        write_run(workdir / "saves", "older", "finished", steps=30)
        time.sleep(0.05)
        write_run(workdir / "saves", "live", "running", steps=7, pid=job.pid)
        second = AppServer(workdir, {}, tmp_path / "app.log")  # a new process: nothing but the files to go on
        try:
            open_page(page, second.url)
            page.locator("#train-run_progress").get_by_text("llamaboard-tiny/lora/live").wait_for()
            assert "running" in page.locator("#train-run_progress").inner_text()
            wait_for(lambda: chart_points(page) == 7, 20, "the live run's 7 points")
        finally:
            second.stop()
    finally:
        job.kill()
