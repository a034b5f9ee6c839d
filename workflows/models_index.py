"""transformers' index of its model classes, read from a file rather than rebuilt by every process.

transformers builds the index of what each of its 1,100 model folders exports by reading and parsing every one of
their files, twice: once in ``import transformers`` (the folder as a whole) and again in ``import
transformers.models`` (which ``AutoModelForCausalLM``, the Trainer and peft all need). That is about 0.35 s each on
two CPU cores, on every start of a training run or a model server, for results that only change with
transformers itself. ``use_cached_models_index`` keeps both results in LlamaBoard's cache, keyed by the installed
transformers (its version and the folders' modification times), and serves them from there.

It replaces transformers' ``define_import_structure`` for those two calls: every other call, a development
version of transformers, or an unreadable cache goes to the original.
"""

import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path

from workflows.import_hooks import run_after_import
from workflows.models.tiny import cache_root

IMPORT_UTILS = "transformers.utils.import_utils"


def use_cached_models_index() -> None:
    """Call before ``transformers`` is imported (both indexes are then read from the cache) or at least before
    ``transformers.models`` is (then only its own index is); a no-op after that, or where the index is not cacheable."""
    if "transformers.models" in sys.modules:
        return
    import_utils = sys.modules.get(IMPORT_UTILS)
    if import_utils is not None:
        _cache_indexes(import_utils)
    else:  # the first build runs while import transformers is still going on: patched from inside it
        run_after_import(IMPORT_UTILS, _cache_indexes)


def _cache_indexes(import_utils) -> None:
    """Route transformers' two builds of the models folder's index through the cache."""
    version = getattr(sys.modules.get("transformers"), "__version__", "dev")  # set before transformers imports its utils
    if "dev" in version:  # an editable checkout: its files change without its version
        return
    models = Path(import_utils.__file__).parents[1] / "models"
    build = import_utils.define_import_structure
    cacheable = {(models, "models"): "folder", (models / "__init__.py", None): "models"}  # import transformers; transformers.models

    def define_import_structure(module_path, prefix=None):
        kind = cacheable.get((Path(module_path), prefix))
        if kind is None:
            return build(module_path, prefix)
        cached = cache_root() / "transformers" / f"{kind}-index-{_fingerprint(models, version)}.pickle"
        try:
            return pickle.loads(cached.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            index = build(module_path, prefix)
            _write_atomically(cached, pickle.dumps(index))
            return index

    import_utils.define_import_structure = define_import_structure


@functools.cache  # both builds of a process use it
def _fingerprint(models_folder: Path, version: str) -> str:
    digest = hashlib.sha256(f"{models_folder}\n{version}\n".encode())
    with os.scandir(models_folder) as entries:
        for entry in sorted(entries, key=lambda entry: entry.name):
            digest.update(f"{entry.name} {entry.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only cache: the index is built again next time
