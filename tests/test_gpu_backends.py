"""The vLLM and SGLang backends, driven through stand-in `vllm` / `sglang` modules.

Both packages need a CUDA GPU and cannot be installed on a CPU machine, so each
test puts a small stand-in module into ``sys.modules`` (monkeypatch) that
implements only the documented surface the backends call (vLLM:
``AsyncEngineArgs``, ``AsyncLLMEngine.from_engine_args``, ``generate``,
``abort``, ``SamplingParams``, ``TokensPrompt``, ``LoRARequest``; SGLang:
``Engine(...)``, ``async_generate(..., stream=True)``,
``tokenizer_manager.abort_request``) and records the calls. The stand-in
"model" answers a scripted text token by token with the built-in tiny
model's real tokenizer, reporting cumulative progress as both packages do by
default, and ends on the stop token only when it is among the stop ids it was
given. What real vLLM/SGLang generate on a GPU is not checked here.
"""

import asyncio
import functools
import importlib.machinery
import json
import signal
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from tests.conftest import PROJECT_ROOT
from workflows.chat import Response, load_engine
from workflows.chat.base import RequestError
from workflows.config import RunConfig
from workflows.config.schema import ModelArgs
from workflows.errors import ConfigError
from workflows.models.loader import load_tokenizer

BACKENDS = ["vllm", "sglang"]
ANSWER = "I am LlamaBoard Assistant, a tiny model."
CONVERSATION = [
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am an assistant."},
    {"role": "user", "content": "What can you do?"},
]
MODEL_KEY = {"vllm": "model", "sglang": "model_path"}
CONTEXT_KEY = {"vllm": "max_model_len", "sglang": "context_length"}
MAX_TOKENS_KEY = {"vllm": "max_tokens", "sglang": "max_new_tokens"}


@functools.cache
def tiny_tokenizer():
    return load_tokenizer(ModelArgs())


@dataclass
class Call:
    prompt_ids: list[int]
    params: dict
    lora: Any
    request_id: str


@dataclass
class Recorder:
    """What the stand-in package was asked to do."""

    answer: str
    delay: float
    honours_abort: bool = True
    engine_kwargs: Optional[dict] = None
    calls: list[Call] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    async def progress(self, call: Call, max_tokens: int):
        """(text so far, token count, finish reason) per generated token, as a backend reports them."""
        tokenizer = tiny_tokenizer()
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        ids = tokenizer(self.answer, add_special_tokens=False)["input_ids"]
        if end in call.params["stop_token_ids"]:
            ids.append(end)
        for count in range(1, min(len(ids), max_tokens) + 1):
            await asyncio.sleep(self.delay)
            if self.honours_abort and call.request_id in self.aborted:
                yield tokenizer.decode(ids[: count - 1], skip_special_tokens=True), count - 1, "abort"
                return
            finished = "stop" if ids[count - 1] == end else "length" if count == max_tokens else None
            yield tokenizer.decode(ids[:count], skip_special_tokens=True), count, finished
            if finished:
                return


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)  # importlib.util.find_spec finds it
    module.__dict__.update(attributes)
    return module


def _fake_vllm(recorder: Recorder) -> dict[str, types.ModuleType]:
    class AsyncEngineArgs:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LoRARequest:
        def __init__(self, lora_name: str, lora_int_id: int, lora_path: str):
            self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path

    class AsyncLLMEngine:
        @classmethod
        def from_engine_args(cls, args):
            recorder.engine_kwargs = args.kwargs
            return cls()

        async def generate(self, prompt, sampling_params, request_id, *, lora_request=None):
            call = Call(prompt["prompt_token_ids"], sampling_params.kwargs, lora_request, request_id)
            recorder.calls.append(call)
            async for text, count, finished in recorder.progress(call, sampling_params.kwargs["max_tokens"]):
                completion = types.SimpleNamespace(text=text, token_ids=list(range(count)), finish_reason=finished)
                yield types.SimpleNamespace(outputs=[completion], finished=finished is not None)

        async def abort(self, request_id):
            recorder.aborted.append(request_id)

    def TokensPrompt(**fields):  # a TypedDict in vLLM
        return dict(fields)

    return {
        "vllm": _module(
            "vllm", AsyncEngineArgs=AsyncEngineArgs, AsyncLLMEngine=AsyncLLMEngine, SamplingParams=SamplingParams, TokensPrompt=TokensPrompt
        ),
        "vllm.lora": _module("vllm.lora"),
        "vllm.lora.request": _module("vllm.lora.request", LoRARequest=LoRARequest),
    }


def _fake_sglang(recorder: Recorder) -> dict[str, types.ModuleType]:
    class Engine:
        def __init__(self, **kwargs):
            # The real Engine installs signal handlers, which Python allows on the main thread only.
            signal.signal(signal.SIGQUIT, signal.getsignal(signal.SIGQUIT))
            recorder.engine_kwargs = kwargs
            self.tokenizer_manager = types.SimpleNamespace(abort_request=lambda rid="": recorder.aborted.append(rid))

        async def async_generate(self, input_ids=None, sampling_params=None, lora_path=None, stream=False, rid=None):
            assert stream
            call = Call(input_ids, sampling_params, lora_path, rid)
            recorder.calls.append(call)

            async def chunks():
                async for text, count, finished in recorder.progress(call, sampling_params["max_new_tokens"]):
                    reason = finished and {"type": finished}
                    yield {"text": text, "meta_info": {"id": rid, "finish_reason": reason, "completion_tokens": count}}

            return chunks()

    return {"sglang": _module("sglang", Engine=Engine)}


def install(monkeypatch, backend: str, answer: str = ANSWER, delay: float = 0.0, honours_abort: bool = True) -> Recorder:
    recorder = Recorder(answer, delay, honours_abort)
    for name, module in (_fake_vllm if backend == "vllm" else _fake_sglang)(recorder).items():
        monkeypatch.setitem(sys.modules, name, module)
    return recorder


def run_config(backend: str = "huggingface", **settings) -> RunConfig:
    return RunConfig.from_flat_dict({"infer_backend": backend, **settings}, source="test")


def write_adapter(folder, rank: int = 8) -> str:
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank}), encoding="utf-8")
    return str(folder)


@pytest.fixture(scope="module")
def hf_engine(tiny_model_dir):
    return load_engine(run_config())


@pytest.mark.parametrize("backend", BACKENDS)
def test_prompt_ids_are_the_huggingface_backends(backend, monkeypatch, hf_engine, tiny_model_dir):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend, default_system="You are terse."))
    engine.chat(CONVERSATION)
    engine.chat(CONVERSATION, system="Answer in French.")
    assert [call.prompt_ids for call in recorder.calls] == [
        hf_engine.encode(CONVERSATION, system="You are terse."),
        hf_engine.encode(CONVERSATION, system="Answer in French."),
    ]
    assert recorder.engine_kwargs[MODEL_KEY[backend]] == str(tiny_model_dir)
    assert recorder.engine_kwargs[CONTEXT_KEY[backend]] == engine.context_length == hf_engine.context_length
    assert engine.stop_ids == hf_engine.stop_ids and engine.model_name == "llamaboard-tiny"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampling_params_follow_generation_args(backend, monkeypatch):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend, temperature=0.5, top_p=0.9, top_k=7, max_new_tokens=20, repetition_penalty=1.1))
    for overrides in ({}, {"temperature": 0}, {"do_sample": False}, {"top_k": 0}, {"max_new_tokens": 10**6}):
        engine.chat(CONVERSATION, **overrides)
    sampled, zero_temperature, no_sampling, no_top_k, too_long = (call.params for call in recorder.calls)
    shared = {MAX_TOKENS_KEY[backend]: 20, "repetition_penalty": 1.1, "stop_token_ids": engine.stop_ids}
    assert engine.tokenizer.convert_tokens_to_ids("<|im_end|>") in engine.stop_ids
    assert sampled == {**shared, "temperature": 0.5, "top_p": 0.9, "top_k": 7}
    assert zero_temperature == no_sampling == {**shared, "temperature": 0.0}
    assert no_top_k["top_k"] == -1
    assert too_long[MAX_TOKENS_KEY[backend]] == engine.context_length - len(recorder.calls[-1].prompt_ids)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_requests_are_request_errors(backend, monkeypatch):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend))
    with pytest.raises(RequestError, match="temperature"):
        engine.chat(CONVERSATION, temperature=-1)
    with pytest.raises(RequestError, match="context"):
        engine.encode([{"role": "user", "content": "word " * engine.context_length}])
    assert recorder.calls == []


def test_vllm_serves_the_adapter_as_a_lora_request(monkeypatch, tmp_path):
    recorder = install(monkeypatch, "vllm")
    adapter = write_adapter(tmp_path / "lora", rank=20)
    load_engine(run_config("vllm", adapter_name_or_path=adapter)).chat(CONVERSATION)
    assert recorder.engine_kwargs | {"enable_lora": True, "max_loras": 1, "max_lora_rank": 32} == recorder.engine_kwargs
    lora = recorder.calls[0].lora
    assert (lora.lora_name, lora.lora_int_id, lora.lora_path) == ("adapter", 1, adapter)

    recorder = install(monkeypatch, "vllm")
    load_engine(run_config("vllm")).chat(CONVERSATION)
    assert recorder.calls[0].lora is None and "enable_lora" not in recorder.engine_kwargs


def test_sglang_serves_the_adapter_by_name(monkeypatch, tmp_path):
    recorder = install(monkeypatch, "sglang")
    adapter = write_adapter(tmp_path / "lora")
    load_engine(run_config("sglang", adapter_name_or_path=adapter)).chat(CONVERSATION)
    assert recorder.engine_kwargs["lora_paths"] == [f"adapter={adapter}"]
    assert recorder.calls[0].lora == "adapter"

    recorder = install(monkeypatch, "sglang")
    load_engine(run_config("sglang")).chat(CONVERSATION)
    assert recorder.calls[0].lora is None and "lora_paths" not in recorder.engine_kwargs


@pytest.mark.parametrize("backend", BACKENDS)
def test_streamed_pieces_make_the_answer_and_the_response_counts_it(backend, monkeypatch):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend))
    stream = engine.stream_chat(CONVERSATION)
    pieces = list(stream)
    answer_length = len(engine.tokenizer(ANSWER, add_special_tokens=False)["input_ids"]) + 1  # and the stop token
    assert "".join(pieces) == ANSWER and len(pieces) > 1
    assert stream.response == Response(ANSWER, len(recorder.calls[0].prompt_ids), answer_length, "stop")
    cut = engine.chat(CONVERSATION, max_new_tokens=3)[0]
    assert (cut.response_length, cut.finish_reason) == (3, "length") and ANSWER.startswith(cut.text)
    assert recorder.aborted == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_close_aborts_the_request(backend, monkeypatch):
    recorder = install(monkeypatch, backend, answer=ANSWER * 10, delay=0.01)
    engine = load_engine(run_config(backend))
    stream = engine.stream_chat(CONVERSATION)
    shown = next(stream)
    stream.close()
    shown += "".join(stream)
    assert recorder.aborted == [recorder.calls[0].request_id]
    assert len(shown) < len(ANSWER * 10) and (ANSWER * 10).startswith(shown)
    assert stream.response.text == shown and stream.response.finish_reason == "stop"


@pytest.mark.parametrize("backend", BACKENDS)
def test_close_ends_the_stream_even_when_the_backend_keeps_generating(backend, monkeypatch):
    recorder = install(monkeypatch, backend, answer=ANSWER * 10, delay=0.01, honours_abort=False)
    engine = load_engine(run_config(backend))
    stream = engine.stream_chat(CONVERSATION)
    next(stream)
    stream.close()
    list(stream)
    assert recorder.aborted == [recorder.calls[0].request_id]
    assert len(stream.response.text) < len(ANSWER * 10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_stop_strings_cut_the_text_and_end_the_request(backend, monkeypatch):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend))
    stream = engine.stream_chat(CONVERSATION, stop=["tiny"])
    pieces = list(stream)
    assert "".join(pieces) == stream.response.text == ANSWER[: ANSWER.find("tiny")]
    assert stream.response.finish_reason == "stop"
    assert recorder.aborted == [recorder.calls[0].request_id]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_answers_every_conversation_in_order(backend, monkeypatch, hf_engine):
    recorder = install(monkeypatch, backend)
    engine = load_engine(run_config(backend))
    conversations = [CONVERSATION, [{"role": "user", "content": "hi"}]]
    responses = engine.batch(conversations, max_new_tokens=4)
    prompts = [hf_engine.encode(messages) for messages in conversations]
    assert sorted(call.prompt_ids for call in recorder.calls) == sorted(prompts)
    assert [response.prompt_length for response in responses] == [len(prompt) for prompt in prompts]
    assert all(
        response.response_length == 4 and response.finish_reason == "length" and ANSWER.startswith(response.text) for response in responses
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_package_is_a_clear_config_error(backend, monkeypatch):
    monkeypatch.setitem(sys.modules, backend, None)  # find_spec reports a module set to None as not installed
    with pytest.raises(ConfigError) as error:
        load_engine(run_config(backend))
    message = str(error.value)
    assert f"`{backend}` is not installed" in message and "GPU" in message and "CUDA" in message and "infer_backend=huggingface" in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_several_adapters_are_a_config_error(backend, monkeypatch, tmp_path):
    recorder = install(monkeypatch, backend)
    adapters = f"{write_adapter(tmp_path / 'a')},{write_adapter(tmp_path / 'b')}"
    with pytest.raises(ConfigError, match="one LoRA adapter per request, but adapter_name_or_path lists 2. Merge them"):
        load_engine(run_config(backend, adapter_name_or_path=adapters))
    assert recorder.engine_kwargs is None


def test_vllm_refuses_an_adapter_rank_it_cannot_serve(monkeypatch, tmp_path):
    install(monkeypatch, "vllm")
    with pytest.raises(ConfigError, match="rank 1024"):
        load_engine(run_config("vllm", adapter_name_or_path=write_adapter(tmp_path / "wide", rank=1024)))


def test_loading_options_these_backends_do_not_apply_are_reported(monkeypatch, caplog):
    install(monkeypatch, "vllm")
    load_engine(run_config("vllm", flash_attn="sdpa"))
    assert "flash_attn not applied" in caplog.text and "quantization_bit" not in caplog.text


def test_gpu_packages_are_imported_only_when_picked():
    code = (
        "import sys, workflows.chat, workflows.chat.vllm_engine, workflows.chat.sglang_engine\n"
        "print(sorted({'vllm', 'sglang', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
