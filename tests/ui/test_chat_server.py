"""The Chat tab's server handling: load streams answers, unload ends the process and its memory
(measured), two servers side by side answer independently (compare mode), and a server ends
with the UI that started it."""

import shutil
import subprocess
import sys
import threading
import time

import psutil
import pytest
from conftest import PROJECT_ROOT

from llamaboard.chat_server import ChatServer, ServerRegistry, read_in_batches, read_together
from llamaboard.paths import Workspace
from llamaboard.run_builder import confine_paths
from workflows.errors import ModelError

HELLO = [{"role": "user", "content": "Who are you?"}]
GREEDY = ["do_sample=false", "max_new_tokens=8"]


def test_load_stream_and_unload_frees_the_memory(tiny_model_dir, tmp_path):
    server = ChatServer()
    assert server.load(GREEDY, log=tmp_path / "api.log") == "llamaboard-tiny"
    assert "".join(server.stream(HELLO, temperature=0, max_tokens=8))
    pid, loaded_bytes = server._process.pid, server.memory_bytes()
    assert loaded_bytes > 100 * 2**20  # torch and the model live in the server process
    server.unload()
    assert not server.loaded and server.memory_bytes() == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    print(f"server RSS while loaded: {loaded_bytes / 2**20:.0f} MiB; after unload the process is gone")


def test_two_servers_side_by_side_for_compare_mode(tiny_model_dir):
    base, other = ChatServer(), ChatServer()
    try:
        base.load(GREEDY)
        other.load([*GREEDY, "default_system=You are a pirate who only speaks in rhymes."])
        answers = ["".join(server.stream(HELLO, temperature=0)) for server in (base, other)]
        assert all(answers) and answers[0] != answers[1]
        assert answers[0] == "".join(base.stream(HELLO, temperature=0))
    finally:
        base.unload()
        other.unload()


KILLED_UI = """
import sys, time
from llamaboard import launcher
from llamaboard.chat_server import ChatServer
if sys.argv[1] == "forked":
    launcher.start_fork_server()
    while not launcher.fork_server().socket_path.exists():
        time.sleep(0.2)
server = ChatServer()
server.load(["do_sample=false"])
print(server._process.pid, type(server._process).__name__, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("start", ["forked", "plain"])
def test_a_killed_ui_leaves_no_model_server_behind(tiny_model_dir, start):
    command = [sys.executable, "-c", KILLED_UI, start]
    ui = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid_text, kind = ui.stdout.readline().split()
    server_pid = int(pid_text)
    assert kind == ("ForkedProcess" if start == "forked" else "Popen")  # forked from the UI's fork server, or started plainly
    assert psutil.Process(server_pid).is_running()
    ui.kill()  # SIGKILL: the UI gets no chance to unload anything
    ui.wait()
    server = psutil.Process(server_pid)
    try:
        server.wait(timeout=30)
    except psutil.TimeoutExpired:
        server.kill()
        raise AssertionError("the model server outlived the UI that started it") from None


def test_compare_mode_reads_both_answers_at_once_and_stops_both():
    second_started, closed = threading.Event(), []

    def first():
        try:
            yield "a1"
            assert second_started.wait(10), "the second stream was not read while the first waited"
            yield "a2"
        finally:
            closed.append("first")

    def second():
        try:
            yield "b1"
            second_started.set()
            yield from ("b2", "b3")
        finally:
            closed.append("second")

    merged = list(read_together([first(), second()]))
    assert sorted(merged) == [(0, "a1"), (0, "a2"), (1, "b1"), (1, "b2"), (1, "b3")]
    assert merged.index((1, "b1")) < merged.index((0, "a2"))
    assert sorted(closed) == ["first", "second"]

    endless_closed = threading.Event()

    def endless():
        try:
            while True:
                yield "x"
        finally:
            endless_closed.set()

    reading = read_together([endless()])
    assert next(reading) == (0, "x")
    reading.close()  # the page pressed Stop
    assert endless_closed.wait(10), "the stream kept being read after the reader was closed"


class FakeServer:
    """Stands in for a ChatServer in the registry's bookkeeping tests (real processes are tested above and in the browser)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.model, self.loaded = pid, "m", True

    def unload(self) -> None:
        self.loaded = False


def test_the_registry_ends_a_pages_servers_when_it_closes_or_stops_renewing_its_lease():
    now = [0.0]
    registry = ServerRegistry(lease_s=60, clock=lambda: now[0])
    a1, a2, b1 = FakeServer(1), FakeServer(2), FakeServer(3)
    registry.add(a1, "page-a", "chat")
    registry.add(a2, "page-a", "compare")
    registry.add(b1, "page-b", "chat")
    assert [entry.server.pid for entry in registry.entries()] == [1, 2, 3]

    now[0] = 50
    registry.renew("page-b")  # page b is open; page a went silent (a vanished browser)
    now[0] = 59
    assert registry.end_expired() == []  # within the lease
    now[0] = 70
    ended = registry.end_expired()
    assert sorted(entry.server.pid for entry in ended) == [1, 2] and not a1.loaded and not a2.loaded and b1.loaded

    b2 = FakeServer(4)
    registry.add(b2, "page-b", "compare")
    assert [entry.server.pid for entry in registry.end(4)] == [4] and not b2.loaded  # End in the list
    registry.end_owner("page-b")  # page b closed or reloaded
    assert not b1.loaded and registry.entries() == []
    late = FakeServer(6)
    assert registry.add(late, "page-b", "chat") is None and not late.loaded  # it finished starting after its page closed

    c1 = FakeServer(5)
    registry.add(c1, "page-c", "chat")
    c1.loaded = False  # it ended by itself (crashed): no longer listed
    assert registry.entries() == []


def _slow_stream(pieces: int, every_s: float):
    for number in range(pieces):
        time.sleep(every_s)
        yield f"{number} "


def test_answers_reach_the_page_about_ten_times_a_second_and_nothing_is_lost():
    started = time.monotonic()
    batches = list(read_in_batches([_slow_stream(100, 0.005), _slow_stream(50, 0.01)], every_s=0.1, per_char_s=0))
    elapsed = time.monotonic() - started
    assert len(batches) <= elapsed / 0.1 + 2, f"{len(batches)} page updates in {elapsed:.2f} s"
    assert "".join(batch.get(0, "") for batch in batches) == "".join(f"{number} " for number in range(100))
    assert "".join(batch.get(1, "") for batch in batches) == "".join(f"{number} " for number in range(50))

    started = time.monotonic()  # a long answer: updates further apart as it grows
    batches = list(read_in_batches([_slow_stream(400, 0.002)], every_s=0.01, per_char_s=1e-3))
    gaps = len(batches) - 1
    assert gaps <= 12, f"{gaps} updates for a 1,490-character answer in {time.monotonic() - started:.2f} s"


def test_a_model_path_resolves_against_the_workdir_not_the_uis_folder(tiny_model_dir, tmp_path, monkeypatch):
    """`outside/m` looks like a hub id: it must never load <the UI's cwd>/outside/m (issue: a path escape)."""
    ui_cwd, workdir = tmp_path / "ui-cwd", tmp_path / "workdir"
    shutil.copytree(tiny_model_dir, ui_cwd / "outside" / "m")
    workdir.mkdir()
    monkeypatch.chdir(ui_cwd)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(workdir)})
    values = confine_paths({"model_name_or_path": "outside/m"}, workspace)
    assert values["model_name_or_path"] == "outside/m"  # no such folder in the workdir: taken as a hub id
    server = ChatServer(workspace.workdir)
    try:
        with pytest.raises(ModelError):
            server.load([*GREEDY, "model_name_or_path=outside/m"])  # offline: no hub model, and not the UI's folder
        assert not server.loaded

        shutil.copytree(tiny_model_dir, workdir / "outside" / "m")  # the same path inside the workdir is a local model
        values = confine_paths({"model_name_or_path": "outside/m"}, workspace)
        assert values["model_name_or_path"] == str(workdir / "outside" / "m")
        server.load([*GREEDY, f"model_name_or_path={values['model_name_or_path']}"])
        assert psutil.Process(server.pid).cwd() == str(workdir)
    finally:
        server.unload()
