"""`bench/gpu_check.py --smoke` runs every row's code path on CPU: the plain and ours rows train, the GPU-only ones say why not."""

import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^(qwen2-0\.5b|llama3-8b)\s+(lora|full|qlora)\s+(plain|ours)\s+(padded|padding-free|auto)\s+(\S+=\S+)?\s*(.*)$")


def test_gpu_check_smoke_trains_each_row_on_cpu_and_skips_the_gpu_only_ones_with_the_reason():
    result = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--smoke"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [match.groups() for match in map(ROW.match, result.stdout.splitlines()) if match]
    assert len(rows) == 24, result.stdout  # 12 plain/ours rows, 3 ours auto, 3 fa2, 3 Liger, 1 fused AdamW, 2 QLoRA
    by_option = {}
    for shape, method, runner, batching, option, rest in rows:
        by_option.setdefault(option, []).append((shape, method, runner, batching, rest))
    trained = by_option[None] + by_option["optim=adamw_torch_fused"]
    for shape, method, runner, batching, rest in trained:
        if method == "qlora":
            assert re.search(r"skipped: .*CUDA GPU", rest), (shape, method, runner, rest)
        else:
            assert re.match(r"[\d,]+\s+\d+\.\d%\s+\d+\.\d\dx\s+ok$", rest), (shape, method, runner, batching, rest)
    shapes_and_methods = [("qwen2-0.5b", "lora"), ("llama3-8b", "lora"), ("qwen2-0.5b", "full")]
    assert {(shape, method, runner, batching) for shape, method, runner, batching, _ in by_option[None] if method != "qlora"} == {
        (shape, method, runner, batching)
        for shape, method in shapes_and_methods
        for runner in ("plain", "ours")
        for batching in ("padded", "padding-free")
    } | {(shape, method, "ours", "auto") for shape, method in shapes_and_methods}
    assert all("skipped: `flash_attn: fa2` needs" in rest for *_, rest in by_option["flash_attn=fa2"])
    assert all("skipped: `enable_liger_kernel: true` needs" in rest for *_, rest in by_option["enable_liger_kernel=true"])
    assert result.stdout.startswith("CPU (smoke: tiny shapes, float32)")
