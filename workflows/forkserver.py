"""A warm start for jobs: a process that has already imported torch and transformers forks each one.

``python -m workflows train`` spends seconds importing before its first step
(about 5 s on a quiet 2-core machine, half a minute on a busy one). The UI
starts this server once, after it is up; every job the UI starts is then a fork
of it, with those modules already in memory (shared copy-on-write), and runs
exactly what ``python -m workflows <kind> run.yaml`` runs.

Why forking is safe here:

- The server never runs a job, loads a model or data, starts a thread or draws a
  random number: it imports, then waits. Every job starts from that same pristine
  state, so nothing leaks from one run to the next, and a job's memory goes back to
  the system when it ends.
- It imports neither peft nor bitsandbytes nor ``transformers.trainer``, so each job
  still decides which of them it loads (``workflows.imports``).
- A job's environment must equal the server's in every variable that the
  pre-imported libraries read at import time (``IMPORT_TIME_PREFIXES``);
  ``fork_job`` refuses otherwise and the caller starts a plain process.
- It runs only on machines without a GPU driver: a CUDA (or ROCm) runtime that a
  parent has touched cannot be used after fork, and importing transformers may
  query the devices. GPU machines start jobs as plain processes (a few seconds there
  are small beside model loading). See ``available``.

The server starts with the allocator settings of ``workflows.allocator`` (glibc reads them only at a
process's start, so its children inherit them), and so does every job the UI starts.

The server lives as long as the process that started it (checked every second).
The Chat tab's model servers (``python -m workflows api``) start the same way;
``ForkedProcess`` lets their caller drive a forked process like a subprocess.

One request per connection on a Unix socket in a private folder: a JSON line
``{"args": [...], "cwd": ..., "env": {...}, "log": ...}`` answered by
``{"pid": N}``; ``{"ping": true}`` is answered with the server's module count.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from workflows.allocator import tuned_environment
from workflows.run_dir import pid_alive

PRELOADED = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "accelerate",
    "safetensors.torch",
    "workflows.cli",
)
IMPORT_TIME_PREFIXES = (
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "DATASETS_",
    "ACCELERATE_",
    "TOKENIZERS_",
    "TORCH",
    "PYTORCH_",
    "CUDA_",
    "OMP_",
    "MKL_",
    "KMP_",
    "PYTHON",
    "LD_",
)
"""Environment variables a pre-imported library may have read already: a job that sets them differently is not forked."""
STARTUP_ONLY = frozenset({"PYTHONSAFEPATH"})
"""Read by the interpreter only as it starts (the server has it set): a job may set it or not."""
DISABLE_VARIABLE = "LLAMABOARD_FORK_SERVER"
GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")


def available(environ: dict[str, str]) -> bool:
    """True on a machine without a GPU driver, unless LLAMABOARD_FORK_SERVER=0."""
    return environ.get(DISABLE_VARIABLE, "1") != "0" and not any(Path(path).exists() for path in GPU_DRIVER_PATHS)


def same_import_environment(server_env: dict[str, str], job_env: dict[str, str]) -> bool:
    names = {name for name in (*server_env, *job_env) if name.startswith(IMPORT_TIME_PREFIXES)} - STARTUP_ONLY
    return all(server_env.get(name) == job_env.get(name) for name in names)


class ForkServer:
    """The UI's handle on its server: start it, fork jobs from it, stop it."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="llamaboard-fork-"))  # mode 0700: only this user can connect
        self.socket_path = self._folder / "socket"
        self._env = dict(os.environ)
        self._process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        """Start the server in the background (it is ready once its socket exists)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "workflows.forkserver", str(self.socket_path), str(os.getpid())],
            # like the job's own start: nothing in the cwd shadows a package, and the allocator its training jobs want
            env=tuned_environment({**self._env, "PYTHONSAFEPATH": "1"}),
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: os.nice(10),  # its imports must not slow the UI answering its first pages
        )

    def fork_job(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Optional[int]:
        """The pid of a job running ``python -m workflows <args>``; None when the server cannot start it (start it plainly)."""
        if self._process is None or self._process.poll() is not None or not self.socket_path.exists():
            return None
        if not same_import_environment(self._env, env):
            return None
        reply = self._ask({"args": args, "cwd": str(cwd), "env": env, "log": str(log)})
        return reply.get("pid") if reply else None

    def module_count(self) -> Optional[int]:
        reply = self._ask({"ping": True})
        return reply.get("modules") if reply else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _ask(self, request: dict) -> Optional[dict]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(10)
                connection.connect(str(self.socket_path))
                connection.sendall(json.dumps(request).encode() + b"\n")
                return json.loads(connection.makefile("rb").readline() or b"null")
        except (OSError, ValueError):
            return None


class ForkedProcess:
    """A process the server forked, with the part of ``subprocess.Popen``'s interface its starters use.

    The server reaps it, so its exit code is not known: ``returncode`` becomes -1 once it has ended.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None and not pid_alive(self.pid):
            self.returncode = -1
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass


def serve(socket_path: Path, parent_pid: int) -> None:
    """Import, then fork one job per request until the parent process is gone."""
    import importlib

    from setproctitle import getproctitle

    from workflows.imports import hide_scipy_from_transformers
    from workflows.models_index import use_cached_models_index
    from workflows.startup import freeze_imports, pause_collection, resume_collection

    getproctitle()  # sets setproctitle up now, while the environment is still the one the process started with
    use_cached_models_index()  # before transformers is imported (hide_scipy_from_transformers imports it)
    hide_scipy_from_transformers()
    pause_collection()
    for module in PRELOADED:
        importlib.import_module(module)
    freeze_imports()
    resume_collection()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the jobs: an ended job never looks alive
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(socket_path) + ".new")
        os.replace(str(socket_path) + ".new", socket_path)  # the socket appears only when it listens
        listener.listen()
        listener.settimeout(1)
        while os.getppid() == parent_pid:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                request = json.loads(connection.makefile("rb").readline() or b"{}")
                reply = {"modules": len(sys.modules)} if request.get("ping") else {"pid": _fork(request, listener)}
                connection.sendall(json.dumps(reply).encode() + b"\n")
    shutil.rmtree(socket_path.parent, ignore_errors=True)  # its UI is gone and cannot clean up after a SIGKILL


def _fork(request: dict, listener: socket.socket) -> int:
    """The job's pid, once it leads its own session (so that signalling its group never reaches the server)."""
    sys.stdout.flush()
    sys.stderr.flush()
    settled_read, settled_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        listener.close()
        os.close(settled_read)
        os.setsid()
        os.close(settled_write)
        _run_job(request)  # never returns
    os.close(settled_write)
    os.read(settled_read, 1)  # end of file once the child has closed its end, after setsid
    os.close(settled_read)
    return pid


def _run_job(request: dict) -> None:
    """In the forked child, in its own session: become ``python -m workflows <args>`` with its folder, environment and log."""
    import atexit
    import runpy
    import traceback

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        _show_as(["-m", "workflows", *request["args"]])
        allocator = os.environ.get("GLIBC_TUNABLES")  # read by glibc when the server started: this fork has the same allocator
        os.environ.clear()
        os.environ.update(request["env"])
        if allocator is None:
            os.environ.pop("GLIBC_TUNABLES", None)
        else:
            os.environ["GLIBC_TUNABLES"] = allocator  # so a training job does not restart itself to set it
        sys.argv = [str(Path(__file__).with_name("__main__.py")), *request["args"]]
        runpy.run_module("workflows", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # what a normal interpreter exit runs (logging's flush, the job's own handlers)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _show_as(args: list[str]) -> None:
    """Let ps, top and psutil show the job's own command line, not the server's."""
    from setproctitle import setproctitle

    setproctitle(shlex.join([sys.executable, *args]))


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
