"""Fixtures for the UI tests: a workdir with the demo data, a real app.py server, a browser.

The server is ``python app.py`` in a subprocess on a free port, exactly as a
user starts it; the browser is Debian's chromium driven by Playwright.
Screenshots go to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_workdir(root: Path) -> Path:
    """A workdir holding a copy of data/ (a copy, so a test may break dataset_info.json safely)."""
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    return root


class AppServer:
    """``python app.py`` running in a subprocess; stop() ends it (and only it)."""

    def __init__(self, workdir: Path, env: dict[str, str], log_path: Path):
        self.workdir, self.port = workdir, free_port()
        self.log_path = log_path
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(("GRADIO_", "LLAMABOARD_"))}
        full_env = {
            **inherited,
            "LLAMABOARD_WORKDIR": str(workdir),
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            **env,
        }
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py")], cwd=workdir, env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self._wait_until_serving()

    def _wait_until_serving(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"app.py did not answer within {timeout_s}s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return make_workdir(tmp_path)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root = tmp_path_factory.mktemp("workdir")
    server = AppServer(make_workdir(root), {}, root / "app.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    # A click waits for the page's answer; with the other test worker training beside it on two cores, an answer took
    # over 20 s in a full run (the leaderboard's row click) while the same test alone takes 13 s in all.
    page.set_default_timeout(45_000)
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
