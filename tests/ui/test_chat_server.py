"""The Chat tab's server handling: load streams answers, unload ends the process and its memory
(measured), two servers side by side answer independently (compare mode), and a server ends
with the UI that started it."""

import subprocess
import sys
import threading

import psutil
from conftest import PROJECT_ROOT

from llamaboard.chat_server import ChatServer, read_together

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
import sys
from llamaboard.chat_server import ChatServer
server = ChatServer()
server.load(["do_sample=false"])
print(server._process.pid, flush=True)
sys.stdin.read()
"""


def test_a_killed_ui_leaves_no_model_server_behind(tiny_model_dir):
    ui = subprocess.Popen([sys.executable, "-c", KILLED_UI], cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    server_pid = int(ui.stdout.readline())
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
