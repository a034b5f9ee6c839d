"""Pick the inference backend named by ``infer_backend``.

vLLM and SGLang need a CUDA GPU and are not in requirements.txt, so asking
for one where it is missing is a user error with a clear way out, not an
ImportError traceback.
"""

import importlib.util

from workflows.chat.base import ChatEngine
from workflows.config import RunConfig
from workflows.errors import ConfigError

GPU_BACKENDS = ("vllm", "sglang")


def load_engine(config: RunConfig) -> ChatEngine:
    backend = config.generation.infer_backend
    if backend in GPU_BACKENDS:
        if importlib.util.find_spec(backend) is None:
            raise ConfigError(
                f"infer_backend `{backend}` is not installed; it needs a GPU. Install it on a CUDA machine "
                f"(`pip install {backend}`) or set infer_backend=huggingface."
            )
        raise ConfigError(f"infer_backend `{backend}` is installed, but LlamaBoard cannot drive it yet: set infer_backend=huggingface.")
    from workflows.chat.hf_engine import HuggingFaceEngine

    return HuggingFaceEngine(config)
