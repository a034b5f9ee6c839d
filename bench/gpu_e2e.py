"""End to end on a GPU: the CLI trains (LoRA, QLoRA, full, DPO), evaluates, chats and exports the built-in tiny model.

    python bench/gpu_e2e.py [OUT]       # on a CUDA machine, about a minute; OUT defaults to a temporary folder

Each step is the command a user types (``python -m workflows ...``), run as its own process, bf16 on CUDA. The table
says for each: its exit status and seconds, the device and precision its log reports ("Training on ..."), its final
loss, and where it failed the end of its log. Without a GPU it runs the same steps in float32 and lists QLoRA as
skipped, so the script itself is checked on any machine.

The GPU machines lent to us have torch, transformers, accelerate, peft, pandas, pyarrow and matplotlib, but none of
our other requirements and no network. Ship these wheels with it (``.whl``, as bench/gpu_check.py describes):
pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2 transformers==5.23.0
peft==0.21.2 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 trl==1.16.0 bitsandbytes==0.50.2.
"""

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple
    needs_cuda: bool = False
    stdin: str | None = None
    """What the user types (chat)."""


def steps(out: Path, cuda: bool) -> list[Step]:
    precision = ("bf16=true",) if cuda else ()
    adapter = f"adapter_name_or_path={out / 'lora'}"

    def train(config: str, folder: str, *keys: str) -> tuple:
        return (
            "train",
            f"examples/{config}",
            "max_steps=30",
            "save_steps=15",
            "logging_steps=5",
            *precision,
            *keys,
            f"output_dir={out / folder}",
        )

    return [
        Step("version", ("version",)),
        Step("lora sft", train("tiny_lora_sft.yaml", "lora")),
        Step("qlora sft", train("tiny_lora_sft.yaml", "qlora", "quantization_bit=4"), needs_cuda=True),
        Step("full sft", train("tiny_full_sft.yaml", "full")),
        Step("dpo", train("tiny_dpo.yaml", "dpo")),
        Step("eval", ("eval", adapter, "eval_dataset=identity", "max_samples=16", *precision, f"output_dir={out / 'eval'}")),
        Step("chat", ("chat", adapter, "max_new_tokens=16", "do_sample=false"), stdin="Who are you?\nexit\n"),
        Step(
            "export", ("export", f"adapter_name_or_path={out / 'lora'}", f"export_dir={out / 'export'}", f"output_dir={out / 'export-job'}")
        ),
    ]


def output_folder(step: Step) -> Path | None:
    folders = [arg.partition("=")[2] for arg in step.args if arg.startswith("output_dir=")]
    return Path(folders[0]) if folders else None


def summary(step: Step, log: str) -> str:
    """The device line of a training run and its losses, an evaluation's loss, or the chat's answer."""
    details = [line.split("Training on ", 1)[1] for line in log.splitlines() if "Training on " in line][:1]
    folder = output_folder(step)
    if folder and (folder / "trainer_log.jsonl").is_file():
        losses = [json.loads(line).get("loss") for line in (folder / "trainer_log.jsonl").read_text().splitlines()]
        losses = [loss for loss in losses if loss is not None]
        if losses:
            details.append(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    if folder and (folder / "eval_results.json").is_file():
        details.append(f"eval_loss {json.loads((folder / 'eval_results.json').read_text())['eval_loss']:.4f}")
    if step.stdin:
        details.append(f"answered {log.partition('Assistant:')[2].partition('User:')[0].strip()[:80]!r}")
    if step.name == "version":
        details.append(" | ".join(line.strip() for line in log.splitlines() if line.strip())[:300])
    return "; ".join(details)


def main(argv: list[str]) -> int:
    import torch  # only to know whether this machine has a GPU; each step imports what it needs

    cuda = torch.cuda.is_available()
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="gpu-e2e-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{torch.cuda.get_device_name() if cuda else 'no CUDA GPU: float32 on CPU'}; runs in {out}", flush=True)
    failed = False
    for step in steps(out, cuda):
        if step.needs_cuda and not cuda:
            print(f"{step.name:10}  skipped: needs a CUDA GPU", flush=True)
            continue
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "workflows", *step.args], cwd=PROJECT_ROOT, input=step.stdin, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        log = result.stdout + result.stderr
        (out / f"{step.name.replace(' ', '_')}.log").write_text(log)
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        failed |= result.returncode != 0
        print(f"{step.name:10}  {status:8}  {seconds:5.1f} s  {summary(step, log)}", flush=True)
        if result.returncode != 0:
            print("    " + "\n    ".join(log.splitlines()[-15:]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
