"""transformers' index of its model classes, read from a file rather than rebuilt by every process.

``import transformers.models`` (which ``AutoModelForCausalLM``, the Trainer and peft all need) builds the index
of what each of its 1,100 model folders exports by reading and parsing every one of their files: about 0.3 s on
two CPU cores, on every start of a training run or a model server, for a result that only changes with
transformers itself. ``use_cached_models_index`` keeps that result in LlamaBoard's cache, keyed by the
installed transformers (its version and the folders' modification times), and serves it from there.

It replaces transformers' ``define_import_structure`` for that one call: every other call, a development
version of transformers, or an unreadable cache goes to the original.
"""

import hashlib
import os
import pickle
import sys
from pathlib import Path

from workflows.models.tiny import cache_root


def use_cached_models_index() -> None:
    """Call before ``transformers.models`` is imported; a no-op after it, or where the index is not cacheable."""
    if "transformers.models" in sys.modules:
        return
    import transformers
    import transformers.utils.import_utils as import_utils

    if "dev" in transformers.__version__:  # an editable checkout: its files change without its version
        return
    models_init = Path(transformers.__file__).parent / "models" / "__init__.py"
    build = import_utils.define_import_structure

    def define_import_structure(module_path, prefix=None):
        if prefix is not None or Path(module_path) != models_init:
            return build(module_path, prefix)
        cached = cache_root() / "transformers" / f"models-index-{_fingerprint(models_init.parent, transformers.__version__)}.pickle"
        try:
            return pickle.loads(cached.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            index = build(module_path)
            _write_atomically(cached, pickle.dumps(index))
            return index

    import_utils.define_import_structure = define_import_structure


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
