"""Training on several processes.

DDP on 2 CPU processes (gloo), started the way the UI starts a job, trains as
one process does on the same global batch (sft, and dpo with its reference
model and reward metrics), only rank 0 writes the run directory, and the UI's
Abort stops every rank at a resumable checkpoint.
What needs GPUs (several GPUs or machines, DeepSpeed, FSDP) is checked as the
exact command and settings built for it.
"""

import fcntl
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from llamaboard import launcher
from llamaboard.controls import NONE_CHOICE
from llamaboard.devices import gpu_count
from llamaboard.scale_out import engine_settings, loaded_engine, processes_text
from workflows.cli import main
from workflows.config import load_config
from workflows.errors import ConfigError
from workflows.run_dir import list_checkpoints, pid_alive, read_state
from workflows.train import distributed, launch
from workflows.train.distributed import (
    ABORT_GRACE_SECONDS,
    ENGINE_PRESETS,
    Nodes,
    check_engine,
    check_gpus,
    needs_torchrun,
    one_gpu_env,
    torchrun_command,
    with_engine_files,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FULL_SFT = str(PROJECT_ROOT / "examples" / "tiny_full_sft.yaml")
# The same 4 examples per optimizer step, in order, at a constant learning rate: step N's loss does not depend on
# how many processes share the batch, nor on how many steps the run has.
SAME_STEPS = (
    "dataset=identity",
    "val_size=0",
    'eval_strategy="no"',
    "logging_steps=1",
    "save_steps=1000",
    "lr_scheduler_type=constant",
    "warmup_ratio=0",
    "train_sampling_strategy=sequential",
)
COMPARED_STEPS = 4


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s}s for {what}")
        time.sleep(0.2)


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace") and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_ddp_on_two_cpu_processes_trains_like_one_and_abort_stops_every_rank_at_a_checkpoint(tmp_path, tiny_model_dir):
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    single = subprocess.Popen(
        [sys.executable, "-m", "workflows", "train", FULL_SFT, *SAME_STEPS, "per_device_train_batch_size=4"]
        + [f"max_steps={COMPARED_STEPS}", f"output_dir={single_dir}"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ddp_dir.mkdir()
    ddp_settings = [*SAME_STEPS, "per_device_train_batch_size=2", "nproc_per_node=2", "max_steps=500", f"output_dir={ddp_dir}"]
    load_config(FULL_SFT, ddp_settings).write_yaml(ddp_dir / "run.yaml")
    launched = launcher.start(launcher.Launch(ddp_dir), PROJECT_ROOT)  # as the UI's Start does
    log = ddp_dir / "running_log.txt"
    wait_for(lambda: (ddp_dir / "trainer_log.jsonl").is_file() and len(losses(ddp_dir)) >= COMPARED_STEPS, 150, log.read_text)

    assert launcher.abort(ddp_dir)
    wait_for(lambda: not pid_alive(launched), 120, "torchrun to end after Abort")
    _, single_errors = single.communicate(timeout=150)
    assert single.returncode == 0, single_errors[-3000:]

    single_losses, ddp_losses = losses(single_dir), losses(ddp_dir)[:COMPARED_STEPS]
    print(f"losses, 1 process: {single_losses}; 2 processes (DDP): {ddp_losses}")
    assert ddp_losses == pytest.approx(single_losses, rel=1e-4)
    assert "Starting 2 processes (DDP) with torchrun" in log.read_text() and "Traceback" not in log.read_text()
    # rank 0 alone writes the run directory: one status, one log line per step, one job heading
    state = read_state(ddp_dir)
    assert state.state == "aborted" and "resume" in state.error, log.read_text()[-3000:]
    assert state.pid != launched and not pid_alive(state.pid)
    steps = [json.loads(line)["current_steps"] for line in (ddp_dir / "trainer_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))
    assert log.read_text().count("Train job in") == 1
    # every rank stopped at the same step and saved into one complete checkpoint, and none is left running
    checkpoint = list_checkpoints(ddp_dir)[-1]
    assert int(checkpoint.name.split("-")[1]) >= COMPARED_STEPS
    assert (checkpoint / "rng_state_0.pth").is_file() and (checkpoint / "rng_state_1.pth").is_file()
    assert processes_naming(str(ddp_dir)) == []


DPO_STEPS = 3
DPO_SAME_STEPS = (  # as SAME_STEPS, for dpo on pairs
    "stage=dpo",
    "dataset=preference_demo",
    "cutoff_len=64",
    "learning_rate=1e-3",
    "logging_steps=1",
    "save_steps=1000",
    "plot_loss=false",
    "lr_scheduler_type=constant",
    "warmup_ratio=0",
    "train_sampling_strategy=sequential",
    f"max_steps={DPO_STEPS}",
)
DPO_METRICS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")


def test_dpo_under_torchrun_logs_what_one_process_logs_on_the_same_batches_once_per_step(tmp_path, tiny_model_dir):
    """dpo has a reference model beside the policy (the LoRA base); its reward metrics are averaged over both ranks."""
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    command = [sys.executable, "-m", "workflows", "train", *DPO_SAME_STEPS, "per_device_train_batch_size=2", "nproc_per_node=2"]
    result = subprocess.run([*command, f"output_dir={ddp_dir}"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert main(["train", *DPO_SAME_STEPS, "per_device_train_batch_size=4", f"output_dir={single_dir}"]) == 0

    for name in ("run.yaml", "status.json", "running_log.txt", "provenance.json", "train_results.json", "adapter_model.safetensors"):
        assert (ddp_dir / name).is_file(), name
    assert read_state(ddp_dir).state == "finished"
    assert "Starting 2 processes (DDP) with torchrun" in result.stdout + result.stderr
    ddp_rows, single_rows = (
        [json.loads(line) for line in (folder / "trainer_log.jsonl").read_text().splitlines()] for folder in (ddp_dir, single_dir)
    )
    assert [row["current_steps"] for row in ddp_rows] == list(range(1, DPO_STEPS + 1)), "rank 0 alone writes the rows"
    for ddp_row, single_row in zip(ddp_rows, single_rows, strict=True):
        for metric in DPO_METRICS:
            assert ddp_row[metric] == pytest.approx(single_row[metric], abs=1e-4), (ddp_row["current_steps"], metric)
    assert ddp_rows[-1]["rewards/margins"] > 0, "the steps compared changed the policy"


def test_a_rank_waits_while_another_builds_the_features_and_loads_them_even_with_overwrite_cache(tiny_model_dir, tmp_path, monkeypatch):
    """Every rank of a torchrun job tokenises the same data into one cache entry: one builds, the others wait for it
    and load what it built (without the lock they replaced the folder under each other)."""
    from workflows.features.build import build_features
    from workflows.models.loader import load_tokenizer
    from workflows.templates import get_template

    monkeypatch.setenv("LLAMABOARD_CACHE", str(tmp_path / "cache"))
    config = load_config(None, ["stage=dpo", "dataset=preference_demo", f"dataset_dir={PROJECT_ROOT / 'data'}", "overwrite_cache=true"])
    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    first = build_features(config, tokenizer, template)  # rank 0

    monkeypatch.setenv("LOCAL_RANK", "1")
    built = []
    with open(tmp_path / "cache" / "datasets" / f"{first.fingerprint}.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as rank 0 holds it while it tokenises
        rank_1 = threading.Thread(target=lambda: built.append(build_features(config, tokenizer, template)))
        rank_1.start()
        rank_1.join(timeout=2)
        assert rank_1.is_alive() and not built, "rank 1 waits for the lock"
    rank_1.join(timeout=60)
    assert built[0].from_cache and built[0].train["input_ids"] == first.train["input_ids"]


def config(*overrides: str):
    return load_config(FULL_SFT, ["output_dir=saves/run", *overrides])


def test_commands_built_for_several_gpus_and_several_machines():
    assert not needs_torchrun(config(), {})
    assert needs_torchrun(config("nproc_per_node=8"), {})
    assert needs_torchrun(config(), {"NNODES": "2"})
    for preset in ENGINE_PRESETS.values():  # DeepSpeed and FSDP need a process group even for one process
        assert needs_torchrun(config(*(f"{key}={value}" for key, value in preset.settings.items())), {})

    one_machine = Nodes.from_env({"MASTER_PORT": "29501"})
    assert torchrun_command(config("nproc_per_node=8"), ["train", "run.yaml"], one_machine) == [
        sys.executable,
        "-m",
        "workflows.train.torchrun",
        "--nnodes=1",
        "--node_rank=0",
        "--nproc_per_node=8",
        "--master_addr=127.0.0.1",
        "--master_port=29501",
        f"--shutdown-timeout={ABORT_GRACE_SECONDS}",
        "-m",
        "workflows",
        "train",
        "run.yaml",
    ]
    second_machine = Nodes.from_env({"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"})
    command = torchrun_command(config("nproc_per_node=4"), ["train", "run.yaml"], second_machine)
    assert command[3:8] == ["--nnodes=2", "--node_rank=1", "--nproc_per_node=4", "--master_addr=10.0.0.1", "--master_port=29500"]
    with pytest.raises(ConfigError, match="NNODES=2 needs MASTER_ADDR"):
        Nodes.from_env({"NNODES": "2", "NODE_RANK": "1"})
    with pytest.raises(ConfigError, match="NODE_RANK=2 with NNODES=2"):
        Nodes.from_env({"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "10.0.0.1"})
    with pytest.raises(ConfigError, match="NNODES='two' must be a whole number"):
        Nodes.from_env({"NNODES": "two"})


def test_train_hands_over_to_torchrun_with_one_run_directory_for_every_rank(monkeypatch):
    for name in ("LOCAL_RANK", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(launch, "_visible_gpu_count", lambda: 2)
    handed_over = []

    def exec_instead(path, command):
        handed_over.append(command)
        raise SystemExit(0)

    monkeypatch.setattr(launch.os, "execv", exec_instead)
    with pytest.raises(SystemExit):
        argv = [FULL_SFT, "nproc_per_node=2", "output_dir=null"]
        launch.train_command(load_config(argv[0], argv[1:]), ["train", *argv])
    (command,) = handed_over
    assert command[:3] == [sys.executable, "-m", "workflows.train.torchrun"] and "--nproc_per_node=2" in command
    assert command[-5:-1] == ["train", FULL_SFT, "nproc_per_node=2", "output_dir=null"]
    assert command[-1].startswith("output_dir=saves/llamaboard-tiny/full/train_")  # chosen once, for every rank
    with pytest.raises(ConfigError, match="nproc_per_node: 4` but this machine shows 2 GPU"):
        launch.train_command(load_config(FULL_SFT, ["nproc_per_node=4"]), ["train", FULL_SFT, "nproc_per_node=4"])


def test_one_process_trains_on_one_gpu_never_dataparallel():
    assert one_gpu_env({"CUDA_VISIBLE_DEVICES": "3,5"}, 2) == {"CUDA_VISIBLE_DEVICES": "3"}
    assert one_gpu_env({}, 8) == {"CUDA_VISIBLE_DEVICES": "0"}
    assert one_gpu_env({}, 1) == {} and one_gpu_env({}, 0) == {}
    check_gpus(config("nproc_per_node=2"), 2)
    check_gpus(config("nproc_per_node=4"), 0)  # no GPU: the ranks run on CPU with gloo


def test_deepspeed_needs_its_package_and_an_existing_json(monkeypatch, tmp_path):
    zero3 = config("deepspeed=examples/deepspeed/ds_z3_config.json")
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"needs the deepspeed package.*pip install 'llamaboard\[deepspeed\]'"):
        check_engine(with_engine_files(zero3), 2)
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name: SimpleNamespace(name=name))
    check_engine(with_engine_files(zero3), 2)
    with pytest.raises(ConfigError, match=r"`deepspeed: missing.json` is not a file.*examples/deepspeed/ds_z3_config.json"):
        check_engine(config("deepspeed=missing.json"), 2)
    broken = tmp_path / "broken.json"
    broken.write_text("{stage: 3")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        check_engine(config(f"deepspeed={broken}"), 2)


def test_fsdp_needs_gpus_and_a_fsdp_config_needs_fsdp():
    fsdp = config(*(f"{key}={value}" for key, value in ENGINE_PRESETS["fsdp"].settings.items()))
    with pytest.raises(ConfigError, match="`fsdp` needs CUDA GPUs"):
        check_engine(with_engine_files(fsdp), 0)
    check_engine(with_engine_files(fsdp), 2)
    with pytest.raises(ConfigError, match="`deepspeed` and `fsdp`.*keep one of them"):
        config("fsdp=true", "deepspeed=examples/deepspeed/ds_z2_config.json")
    with pytest.raises(ConfigError, match="`fsdp_config` is read only with `fsdp: true`"):
        config("fsdp_config=examples/fsdp/fsdp_config.json")


def test_fsdp_on_cpu_is_refused_by_the_cli_before_any_process_starts():
    result = subprocess.run(
        [sys.executable, "-m", "workflows", "train", FULL_SFT, "nproc_per_node=2", "fsdp=true"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "`fsdp` needs CUDA GPUs" in result.stderr and "torchrun" not in result.stderr
    assert "Traceback" not in result.stderr


def test_shipped_presets_are_offered_and_complete_what_transformers_fills_in(tmp_path):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.deepspeed import HfDeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    offered = {value for preset in ENGINE_PRESETS.values() for key, value in preset.settings.items() if key != "fsdp"}
    shipped = {
        str(path.relative_to(PROJECT_ROOT)) for folder in ("deepspeed", "fsdp") for path in PROJECT_ROOT.glob(f"examples/{folder}/*.json")
    }
    assert offered == shipped

    # transformers' own filling of the "auto" values (its methods on accelerate's config reader, as when deepspeed is installed)
    methods = {name: value for name, value in vars(HfTrainerDeepSpeedConfig).items() if not name.startswith("__")}
    trainer_config = type("TrainerConfig", (HfDeepSpeedConfig,), methods)
    args = TrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=4, gradient_accumulation_steps=2, bf16=True
    )
    for key, preset in ENGINE_PRESETS.items():
        if "deepspeed" not in preset.settings:
            continue
        filled = trainer_config(str(PROJECT_ROOT / preset.settings["deepspeed"]))
        filled._dtype, filled.mismatches = None, []
        filled.trainer_config_process(args)
        filled.trainer_config_finalize(args, SimpleNamespace(config=SimpleNamespace(hidden_size=64)), 100)
        assert '"auto"' not in json.dumps(filled.config), key
        assert filled.get_value("zero_optimization.stage") == int(key[4]) and filled.is_offload() == key.endswith("offload")
        assert filled.config["train_micro_batch_size_per_gpu"] == 4 and filled.config["bf16"]["enabled"] is True

    fsdp_config = str(PROJECT_ROOT / ENGINE_PRESETS["fsdp"].settings["fsdp_config"])
    fsdp_args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, fsdp=True, fsdp_config=fsdp_config)
    plugin = FullyShardedDataParallelPlugin(**fsdp_args.fsdp_plugin_args)
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True and "FULL_STATE_DICT" in str(plugin.state_dict_type)


def test_a_relative_preset_path_means_the_shipped_file_unless_the_current_folder_has_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    zero2 = config("deepspeed=examples/deepspeed/ds_z2_config.json")
    assert with_engine_files(zero2).training.deepspeed == str(PROJECT_ROOT / "examples/deepspeed/ds_z2_config.json")
    confined_by_the_ui = config(f"deepspeed={tmp_path / 'examples/deepspeed/ds_z2_config.json'}")
    assert with_engine_files(confined_by_the_ui).training.deepspeed == str(PROJECT_ROOT / "examples/deepspeed/ds_z2_config.json")
    (tmp_path / "examples/deepspeed").mkdir(parents=True)
    (tmp_path / "examples/deepspeed/ds_z2_config.json").write_text("{}")
    assert with_engine_files(zero2).training.deepspeed == "examples/deepspeed/ds_z2_config.json"
    assert with_engine_files(config("deepspeed=examples/../README.md")).training.deepspeed == "examples/../README.md"


def test_the_train_tab_says_how_many_processes_run_and_keeps_the_chosen_preset():
    assert gpu_count(["cuda:0 NVIDIA H200", "cuda:1 NVIDIA H200"]) == 2 and gpu_count(["cpu"]) == 0
    assert "Runs as 2 processes (DDP) under torchrun." in processes_text("en", 2, NONE_CHOICE)
    assert "Runs as 1 process." in processes_text("en", 1, NONE_CHOICE)
    assert "Runs as 4 processes (DeepSpeed ZeRO-3 offload) under torchrun." in processes_text("en", 4, "zero3_offload")
    assert "Runs as 1 process (FSDP) under torchrun." in processes_text("en", 1, "fsdp")
    assert "（DDP）" in processes_text("zh", 2, NONE_CHOICE)
    for key in ENGINE_PRESETS:
        settings = engine_settings(key)
        assert loaded_engine(settings) == (key, set(settings))
        # the form confines paths to absolute ones: a saved config still shows its preset
        absolute = {name: str(PROJECT_ROOT / value) if isinstance(value, str) else value for name, value in settings.items()}
        assert loaded_engine(absolute)[0] == key
    assert engine_settings(NONE_CHOICE) == {} and loaded_engine({"deepspeed": "my_ds.json"}) == (NONE_CHOICE, set())


def test_ddp_skips_the_unused_weight_search_for_adapters_only(tmp_path):
    """With an adapter every trainable weight gets a gradient each step; a full MoE run may leave experts unused."""
    from workflows.train.trainer import training_arguments

    lora = training_arguments(load_config("examples/tiny_lora_sft.yaml", []), tmp_path, show_progress=False)
    full = training_arguments(load_config("examples/tiny_lora_sft.yaml", ["finetuning_type=full"]), tmp_path, show_progress=False)
    chosen = training_arguments(load_config("examples/tiny_lora_sft.yaml", ["ddp_find_unused_parameters=true"]), tmp_path, False)
    assert (lora.ddp_find_unused_parameters, full.ddp_find_unused_parameters, chosen.ddp_find_unused_parameters) == (False, None, True)
