"""Shared test set-up: a private cache, the shared fixtures folder, the built-in model."""

import os
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_ROOT.parent / "shared" / "fixtures"

# Every test session gets its own cache (built model, tokenised data), also seen by the
# subprocesses the tests start, so no test depends on what an earlier session left behind.
os.environ.setdefault("LLAMABOARD_CACHE", tempfile.mkdtemp(prefix="llamaboard-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two test workers share two cores, each often beside a training subprocess: one torch thread per process
# avoids the oversubscribed thread pools' spinning (measured: two parallel tiny runs 15% faster).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def require_fixtures(path: Path = FIXTURES_DIR) -> Path:
    """The fixture path; skip when it is missing, or fail when REQUIRE_FIXTURES=1 (CI)."""
    if path.exists():
        return path
    message = f"shared fixtures not found at {path} (they live beside the checkout, in ../shared/fixtures)"
    if os.environ.get("REQUIRE_FIXTURES") == "1":
        pytest.fail(message + " and REQUIRE_FIXTURES=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return require_fixtures()


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from workflows.models.tiny import build_tiny_model

    return build_tiny_model()


@pytest.fixture(scope="session")
def load_tokenizer(fixtures_dir, tmp_path_factory):
    """Loads a fixture tokenizer (official ones, ../shared/fixtures/tokenizers) the way fixtures/README.md says, once per family."""
    import gzip
    import json
    import shutil

    from transformers import AutoTokenizer

    folder = fixtures_dir / "tokenizers"
    loaded = {}

    def load(family: str):
        if family in loaded:
            return loaded[family]
        if family == "gemma3":
            unpacked = tmp_path_factory.mktemp("gemma3")
            with gzip.open(folder / "gemma3" / "tokenizer.json.gz") as packed:
                (unpacked / "tokenizer.json").write_bytes(packed.read())
            shutil.copy(folder / "gemma3" / "tokenizer_config.json", unpacked)
            tokenizer = AutoTokenizer.from_pretrained(unpacked)
        elif family == "qwen2_5":
            tokenizer = AutoTokenizer.from_pretrained(folder / "qwen3")
            config = json.loads((folder / "qwen2_5" / "tokenizer_config.json").read_text())
            tokenizer.chat_template = config["chat_template"]
        else:
            tokenizer = AutoTokenizer.from_pretrained(folder / family)
        loaded[family] = tokenizer
        return tokenizer

    return load
