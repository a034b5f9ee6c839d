"""transformers' index of its model classes is built once, cached, and read back by later processes (real subprocesses)."""

import pickle
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOAD_A_MODEL_CLASS = (  # counts transformers' own builds of the models folder's index (import transformers; transformers.models)
    "import workflows.models_index as index; built = []; cache = index._cache_indexes\n"
    "def counting(import_utils):\n"
    "    read = import_utils.create_import_structure_from_path\n"
    "    import_utils.create_import_structure_from_path = lambda path: built.append(str(path)) or read(path)\n"
    "    cache(import_utils)\n"
    "index._cache_indexes = counting\n"
    "index.use_cached_models_index()\n"
    "import transformers\n"
    "from transformers import AutoModelForCausalLM, LlamaForCausalLM\n"
    "models = transformers.__file__.replace('__init__.py', 'models')\n"
    "print('BUILT', built.count(models), built.count(models + '/__init__.py'), LlamaForCausalLM.__name__)\n"
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


def test_both_indexes_are_built_once_then_read_from_the_cache_and_equal_what_transformers_builds(tmp_path):
    assert run(tmp_path) == "1 1 LlamaForCausalLM"  # built by transformers and cached
    (folder,) = (tmp_path / "transformers").glob("folder-index-*.pickle")
    (models,) = (tmp_path / "transformers").glob("models-index-*.pickle")
    assert run(tmp_path) == "0 0 LlamaForCausalLM"  # read from the cache
    import transformers
    from transformers.utils.import_utils import create_import_structure_from_path, spread_import_structure

    models_folder = Path(transformers.__file__).parent / "models"
    fresh_models = spread_import_structure(create_import_structure_from_path(str(models_folder / "__init__.py")))
    assert pickle.loads(models.read_bytes()) == fresh_models
    plain = (  # a fresh build in an unpatched process (transformers' __init__ then adds its own names to it)
        "import pickle, sys, pathlib, transformers.utils.import_utils as u; build = u.define_import_structure.__wrapped__; "
        f"sys.stdout.buffer.write(pickle.dumps(build(pathlib.Path({str(models_folder)!r}), prefix='models')))"
    )
    fresh_folder = pickle.loads(subprocess.run([sys.executable, "-c", plain], capture_output=True, check=True, timeout=300).stdout)
    assert pickle.loads(folder.read_bytes()) == fresh_folder
    models.write_bytes(b"not a pickle")  # a damaged cache is rebuilt, not trusted
    assert run(tmp_path) == "0 1 LlamaForCausalLM"
    assert pickle.loads(models.read_bytes()) == fresh_models
