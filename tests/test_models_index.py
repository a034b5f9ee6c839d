"""transformers' index of its model classes is built once, cached, and read back by later processes (real subprocesses)."""

import pickle
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOAD_A_MODEL_CLASS = (  # counts how often transformers' own code indexes the models folder for transformers.models
    "import transformers, transformers.utils.import_utils as import_utils; built = []; "
    "read = import_utils.create_import_structure_from_path; "
    "import_utils.create_import_structure_from_path = lambda path: built.append(str(path)) or read(path); "
    "from workflows.models_index import use_cached_models_index; use_cached_models_index(); "
    "from transformers import AutoModelForCausalLM, LlamaForCausalLM; "
    "models = transformers.__file__.replace('__init__.py', 'models/__init__.py'); "
    "print('BUILT', built.count(models), LlamaForCausalLM.__name__)"
)


def run(cache: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_A_MODEL_CLASS],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "LLAMABOARD_CACHE": str(cache), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split("BUILT ")[-1].strip()


def test_the_index_is_built_once_then_read_from_the_cache_and_equals_what_transformers_builds(tmp_path):
    assert run(tmp_path) == "1 LlamaForCausalLM"  # built by transformers and cached
    (cached,) = (tmp_path / "transformers").glob("models-index-*.pickle")
    assert run(tmp_path) == "0 LlamaForCausalLM"  # read from the cache
    import transformers
    from transformers.utils.import_utils import create_import_structure_from_path, spread_import_structure

    fresh = spread_import_structure(create_import_structure_from_path(str(Path(transformers.__file__).parent / "models" / "__init__.py")))
    assert pickle.loads(cached.read_bytes()) == fresh
    cached.write_bytes(b"not a pickle")  # a damaged cache is rebuilt, not trusted
    assert run(tmp_path) == "1 LlamaForCausalLM"
    assert pickle.loads(cached.read_bytes()) == fresh
