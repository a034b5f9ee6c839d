"""Start -> first logged step of a job the UI starts: forked from the fork server against a fresh process.

    python bench/job_start.py [--rounds 3] [--steps 5]

The UI's launcher starts the same tiny LoRA run both ways, in interleaved
rounds (a noisy machine hits both alike): as a fork of a warm
``workflows.forkserver`` and as ``python -m workflows train`` from scratch.
Prints each time from ``launcher.start`` to the first row of
``trainer_log.jsonl`` (logging_steps=1) and to the end, the medians and their ratio.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from llamaboard import launcher
from llamaboard.launcher import Launch
from workflows.run_dir import RUN_CONFIG_FILE, STATUS_FILE, TRAINER_LOG_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RUN = {
    "model_name_or_path": "llamaboard-tiny",
    "dataset": "identity",
    "dataset_dir": str(PROJECT_ROOT / "data"),
    "finetuning_type": "lora",
    "cutoff_len": 256,
    "per_device_train_batch_size": 2,
    "logging_steps": 1,
    "save_strategy": "no",
    "plot_loss": False,
}


def timed_run(workdir: Path, name: str, steps: int, forked: bool) -> tuple[float, float]:
    """Seconds from start to the first logged step and to the end."""
    import yaml

    run_dir = workdir / name
    run_dir.mkdir()
    (run_dir / RUN_CONFIG_FILE).write_text(yaml.safe_dump({**RUN, "max_steps": steps, "output_dir": str(run_dir)}))
    server, launcher._fork_server = launcher._fork_server, launcher._fork_server if forked else None
    started = time.perf_counter()
    try:
        launcher.start(Launch(run_dir), workdir)
    finally:
        launcher._fork_server = server
    assert json.loads((run_dir / "launch.json").read_text())["forked"] == forked
    first = None
    while True:
        if first is None and (run_dir / TRAINER_LOG_FILE).exists() and (run_dir / TRAINER_LOG_FILE).read_text().strip():
            first = time.perf_counter() - started
        state = json.loads((run_dir / STATUS_FILE).read_text() or "{}").get("state") if (run_dir / STATUS_FILE).exists() else None
        if state in ("finished", "failed", "aborted"):
            if state != "finished":
                raise RuntimeError(f"{name} {state}: see {run_dir / 'running_log.txt'}")
            return first or float("nan"), time.perf_counter() - started
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    options = parser.parse_args()
    launcher.start_fork_server()
    if launcher.fork_server() is None:
        raise SystemExit("no fork server on this machine (a GPU driver is present, or LLAMABOARD_FORK_SERVER=0)")
    while not launcher.fork_server().socket_path.exists():
        time.sleep(0.1)
    timings: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="llamaboard-job-start-") as folder:
        for round_index in range(options.rounds):
            for forked in (True, False) if round_index % 2 == 0 else (False, True):
                first, total = timed_run(Path(folder), f"r{round_index}-{'fork' if forked else 'fresh'}", options.steps, forked)
                timings[forked].append((first, total))
                print(f"round {round_index} {'forked' if forked else 'fresh '}  first step {first:6.2f} s  end {total:6.2f} s", flush=True)
    medians = {forked: [statistics.median(column) for column in zip(*rows)] for forked, rows in timings.items()}
    for label, index in (("first logged step", 0), ("end of run", 1)):
        forked, fresh = medians[True][index], medians[False][index]
        print(f"median {label}: forked {forked:.2f} s, fresh {fresh:.2f} s, ratio {forked / fresh:.2f}")


if __name__ == "__main__":
    main()
