"""Chat engine on the built-in tiny model: prompts equal the official chat template, greedy output is
deterministic and the same streamed, batched or not, stop words end generation, every adapter is merged."""

import importlib.util
import time

import pytest
import torch

from workflows.chat import load_engine
from workflows.chat.base import RequestError
from workflows.chat.stops import find_stop, held_back
from workflows.config import load_config
from workflows.errors import ConfigError, UserError

GREEDY = {"do_sample": False, "max_new_tokens": 12}
CONVERSATION = [
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am an assistant."},
    {"role": "user", "content": "What can you do?"},
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return load_engine(load_config(None, []))


def _random_adapter(base_dir, target, seed):
    """A LoRA adapter with non-zero random weights, so merging it visibly changes the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(target)
    return str(target)


def test_prompt_equals_official_chat_template(engine):
    system = "You are terse."
    ids = engine.encode(CONVERSATION, system=system)
    official = engine.tokenizer.apply_chat_template(
        [{"role": "system", "content": system}, *CONVERSATION], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert ids == official == engine.template.encode_prompt(engine.tokenizer, [{"role": "system", "content": system}, *CONVERSATION])


def test_greedy_is_deterministic_and_streaming_matches(engine):
    first, second = engine.chat(CONVERSATION, **GREEDY)[0], engine.chat(CONVERSATION, **GREEDY)[0]
    assert first == second and first.text
    assert first.prompt_length == len(engine.encode(CONVERSATION))
    stream = engine.stream_chat(CONVERSATION, **GREEDY)
    pieces = list(stream)
    assert "".join(pieces) == first.text and stream.response == first
    assert len(pieces) > first.response_length // 2  # token by token, not held back until a space


def test_batch_with_left_padding_equals_single_answers(engine):
    conversations = [CONVERSATION, [{"role": "user", "content": "hi"}]]
    assert engine.batch(conversations, **GREEDY) == [engine.chat(messages, **GREEDY)[0] for messages in conversations]


def test_a_request_arriving_mid_batch_joins_it_and_greedy_answers_do_not_change(engine):
    engine.scheduler.batch_rows.clear()
    first = engine.stream_chat(CONVERSATION, do_sample=False, max_new_tokens=2000)
    for _ in range(6):  # at least 6 tokens in: the batch may yield
        next(first)
    hello = [{"role": "user", "content": "hi"}]
    second = engine.stream_chat(hello, **GREEDY)
    second_text = "".join(second)
    first.close()  # a client going away: generation stops within a step
    "".join(first)
    rows = list(engine.scheduler.batch_rows)
    assert rows[0] == 1 and 2 in rows  # the first ran alone, then the two together
    assert second_text == engine.chat(hello, **GREEDY)[0].text
    length = first.response.response_length
    assert 6 <= length < 2000 and first.response.finish_reason == "stop"
    assert first.response.text == engine.chat(CONVERSATION, do_sample=False, max_new_tokens=length)[0].text


def test_a_stream_dropped_unread_stops_its_job(engine, monkeypatch):
    """The API queues a request's answers before its client reads them; a client gone by then must not keep the model busy."""
    jobs = []
    make_job = engine._job
    monkeypatch.setattr(engine, "_job", lambda *args: jobs.append(make_job(*args)) or jobs[-1])
    stream = engine.stream_chat(CONVERSATION, do_sample=False, max_new_tokens=2000)
    del stream
    assert jobs[0].cancelled.is_set()
    deadline = time.monotonic() + 30
    while engine.scheduler.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not engine.scheduler.busy() and len(jobs[0].ids) < 2000


def test_stop_words_end_generation(engine, monkeypatch):
    assert engine.tokenizer.convert_tokens_to_ids("<|im_end|>") in engine.stop_ids
    full = engine.chat(CONVERSATION, **GREEDY)[0]
    first_token = engine.tokenizer(full.text, add_special_tokens=False)["input_ids"][0]
    monkeypatch.setattr(engine, "stop_ids", [*engine.stop_ids, first_token])
    stopped = engine.chat(CONVERSATION, **GREEDY)[0]
    assert (stopped.response_length, stopped.finish_reason) == (1, "stop")
    assert engine.batch([CONVERSATION], **GREEDY)[0].finish_reason == "stop"


def test_user_stop_strings_cut_the_answer(engine):
    full = engine.chat(CONVERSATION, **GREEDY)[0].text
    stop = full[3:6]
    answer = engine.chat(CONVERSATION, stop=[stop], **GREEDY)[0]
    assert answer.text == full[: full.find(stop)] and answer.finish_reason == "stop"
    assert find_stop("abcSTOPd", ["STOP", "d"]) == 3 and held_back("abcST", ["STOP"]) == 2 and held_back("abc", ["STOP"]) == 0


def test_requests_that_cannot_be_served_are_user_errors(engine):
    with pytest.raises(RequestError, match="context"):
        engine.encode([{"role": "user", "content": "word " * engine.context_length}])
    with pytest.raises(UserError, match="role"):
        engine.encode([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "hi"}])
    with pytest.raises(RequestError, match="temperature"):
        engine.chat(CONVERSATION, temperature=-1)


def test_adapters_are_all_merged(engine, tiny_model_dir, tmp_path):
    first = _random_adapter(tiny_model_dir, tmp_path / "a", seed=1)
    second = _random_adapter(tiny_model_dir, tmp_path / "b", seed=2)
    answers = {}
    for paths in (first, f"{first},{second}"):
        adapted = load_engine(load_config(None, [f"adapter_name_or_path={paths}"]))
        answers[paths] = adapted.chat(CONVERSATION, **GREEDY)[0].text
    base = engine.chat(CONVERSATION, **GREEDY)[0].text
    assert len({base, *answers.values()}) == 3


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_gpu_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="not installed; it needs a GPU"):
        load_engine(load_config(None, ["infer_backend=vllm"]))


def test_memory_goes_back_to_the_system_once_the_queue_stays_empty_not_between_back_to_back_requests(engine, monkeypatch):
    """The pages then fault in again: a client's next request, sent as its last answer ends, would wait for that
    (time to first token 11.5 -> 9 ms on the bench when it stopped)."""
    from workflows.chat import hf_engine

    released = []
    monkeypatch.setattr(hf_engine, "_release_memory", lambda: released.append(time.monotonic()))
    monkeypatch.setattr(hf_engine, "IDLE_RELEASE_S", 0.5)
    engine.chat(CONVERSATION, **GREEDY)
    time.sleep(1.2)  # whatever wait was running when the patch came has ended
    assert released  # an empty queue releases memory
    engine.chat(CONVERSATION, **GREEDY)  # from here on, each request follows an answer by milliseconds
    for _ in range(3):
        released.clear()
        engine.chat(CONVERSATION, **GREEDY)
        assert released == []  # none between the answer and the next request


def test_the_first_token_is_picked_before_generate_and_answers_equal_generates_own(engine, monkeypatch):
    """The scheduler prefills and picks the first token itself (workflows.chat.first_token), then generate goes on from its cache."""
    jobs = []
    make_job = engine._job
    monkeypatch.setattr(engine, "_job", lambda *args: jobs.append(make_job(*args)) or jobs[-1])
    conversations = [CONVERSATION, [{"role": "user", "content": "hi"}]]
    engine.batch(conversations, **GREEDY)  # one left-padded batch
    for job in jobs:
        assert engine.first_token.plan(job.key, job.settings) is not None  # the path under test was taken
        settings = dict(job.settings)
        prompt = torch.tensor([job.prompt_ids])
        with torch.inference_mode():
            alone = engine.model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=job.max_new_tokens, **settings)
        assert job.ids == alone[0, len(job.prompt_ids) :].tolist()
    sampled_top_1 = engine.chat(CONVERSATION, do_sample=True, temperature=0.7, top_k=1, max_new_tokens=12)[0]
    assert sampled_top_1.text == engine.chat(CONVERSATION, **GREEDY)[0].text  # sampling from one candidate is greedy


def test_settings_the_first_token_path_cannot_reproduce_go_through_generate(engine, monkeypatch):
    from workflows.chat.first_token import FirstToken

    first_token = FirstToken(engine.model)
    settings = {"do_sample": False, "eos_token_id": list(engine.stop_ids), "pad_token_id": engine.tokenizer.pad_token_id}
    assert first_token.plan(("greedy",), settings) is not None
    monkeypatch.setattr(engine.model.generation_config, "no_repeat_ngram_size", 3)  # a model's own generation config
    monkeypatch.setattr(engine, "first_token", FirstToken(engine.model))
    assert engine.first_token.plan(("greedy",), settings) is None

    def not_taken(*_args):
        raise AssertionError("the first-token path was taken")

    monkeypatch.setattr(engine.first_token, "prefill", not_taken)
    assert engine.chat(CONVERSATION, **GREEDY)[0].response_length > 0  # the whole answer from generate
