"""Pick the inference backend named by ``infer_backend``.

vLLM and SGLang need a CUDA GPU and are not in requirements.txt, so asking
for one where it is missing is a user error with a clear way out, not an
ImportError traceback. Each backend's module is imported only when it is
picked, so neither package is imported unless asked for.
"""

import importlib
import importlib.util

from workflows.chat.base import ChatEngine
from workflows.config import RunConfig
from workflows.errors import ConfigError
from workflows.startup import freeze_imports, resume_collection

GPU_BACKENDS = ("vllm", "sglang")
ENGINES = {
    "huggingface": ("workflows.chat.hf_engine", "HuggingFaceEngine"),
    "vllm": ("workflows.chat.vllm_engine", "VllmEngine"),
    "sglang": ("workflows.chat.sglang_engine", "SglangEngine"),
}


def load_engine(config: RunConfig) -> ChatEngine:
    backend = config.generation.infer_backend
    if backend in GPU_BACKENDS and importlib.util.find_spec(backend) is None:
        raise ConfigError(
            f"infer_backend `{backend}` is not installed; it needs a GPU. Install it on a CUDA machine "
            f"(`pip install {backend}`) or set infer_backend=huggingface."
        )
    module, engine = ENGINES[backend]
    engine_class = getattr(importlib.import_module(module), engine)
    freeze_imports()  # where the command paused the collector: before the model exists (workflows.startup)
    loaded = engine_class(config)
    resume_collection()
    return loaded
