"""The default backend: Hugging Face transformers on whatever device torch sees.

Streaming runs ``generate`` in a thread that feeds a ``TokenStreamer``;
the caller reads pieces as they come. Generation ends at the template's stop
words (they are eos ids here), at a user stop string, at ``max_new_tokens``,
or when the caller closes the stream.
"""

import threading
from typing import Iterator, Optional

from pydantic import ValidationError

from workflows.chat.base import ChatEngine, RequestError, Response, TextStream, with_system
from workflows.chat.stops import find_stop, held_back
from workflows.chat.streamer import TokenStreamer
from workflows.config import RunConfig
from workflows.config.schema import GenerationArgs
from workflows.models.loader import adapter_paths, load_model, load_tokenizer, merge_adapters
from workflows.templates import get_template
from workflows.templates.base import split_conversation


class HuggingFaceEngine(ChatEngine):
    def __init__(self, config: RunConfig):
        import torch

        adapters = adapter_paths(config.model)
        self.tokenizer = load_tokenizer(config.model, padding_side="left")
        self.template = get_template(config.data.template, self.tokenizer, config.data.enable_thinking)
        self.template.fix_tokenizer(self.tokenizer)
        model = merge_adapters(load_model(config.model, self.tokenizer), adapters)
        self.model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        self.generation = config.generation
        self.default_system = config.data.default_system
        self.model_name = config.model.model_name_or_path
        self.context_length = int(getattr(model.config, "max_position_embeddings", None) or config.data.cutoff_len)
        words = [self.tokenizer.eos_token, *self.template.stop_words]
        self.stop_ids = sorted({self.tokenizer.convert_tokens_to_ids(word) for word in words if word})

    def encode(self, messages: list[dict], system: Optional[str] = None, tools: Optional[str] = None) -> list[int]:
        messages = with_system(messages, system or self.default_system)
        split_conversation(messages)  # Jinja templates render any role order; the model was trained on alternating turns
        ids = self.template.encode_prompt(self.tokenizer, messages, tools)
        if len(ids) >= self.context_length:
            raise RequestError(
                f"The prompt is {len(ids)} tokens long, but the model's context is {self.context_length} tokens: shorten the conversation."
            )
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def _generation_kwargs(self, prompt_length: int, overrides: dict) -> dict:
        """``generate`` arguments: the config's GenerationArgs with per-request overrides, validated the same way."""
        try:
            args = GenerationArgs(**{**self.generation.model_dump(), **overrides})
        except ValidationError as error:
            problem = error.errors()[0]
            raise RequestError(f"`{problem['loc'][0]}`: {problem['msg']}") from None
        kwargs = {
            "max_new_tokens": min(args.max_new_tokens, self.context_length - prompt_length),
            "repetition_penalty": args.repetition_penalty,
            "do_sample": args.do_sample and args.temperature > 0,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if kwargs["do_sample"]:
            kwargs.update(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def stream_ids(self, prompt_ids: list[int], stop: Optional[list[str]] = None, **gen) -> TextStream:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        kwargs = self._generation_kwargs(len(prompt_ids), gen)
        cancelled = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **_):
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device)

        streamer = TokenStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        input_ids = torch.tensor([prompt_ids], device=self.model.device)
        outcome: dict = {}

        def run() -> None:
            try:
                output = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                    **kwargs,
                )
                outcome["ids"] = output[0, len(prompt_ids) :].tolist()
            except BaseException as error:  # handed to the reading thread, which re-raises it
                outcome["error"] = error
                streamer.end()

        thread = threading.Thread(target=run, name="generate", daemon=True)
        thread.start()
        pieces = self._pieces(streamer, thread, outcome, cancelled, stop or [], len(prompt_ids), kwargs["max_new_tokens"])
        return TextStream(pieces, cancel=cancelled.set)

    def _pieces(self, streamer, thread, outcome, cancelled, stops, prompt_length, max_new_tokens) -> Iterator[str]:
        """Yield text as it is safe to show; return the Response once generation has ended."""
        text, shown, hit_stop = "", 0, False
        for piece in streamer:
            if hit_stop:
                continue  # drain: generation stops within a token of the cancel
            text += piece
            cut = find_stop(text, stops)
            if cut is not None:
                text, hit_stop = text[:cut], True
                cancelled.set()
            safe = len(text) if hit_stop else len(text) - held_back(text, stops)
            if safe > shown:
                yield text[shown:safe]
                shown = safe
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        if len(text) > shown:
            yield text[shown:]
        ids = outcome["ids"]
        ended = hit_stop or (ids and ids[-1] in self.stop_ids) or len(ids) < max_new_tokens
        return Response(text, prompt_length, len(ids), "stop" if ended else "length")

    def batch(self, conversations: list[list[dict]], system: Optional[str] = None, **gen) -> list[Response]:
        """Greedy or sampled answers for a batch, left-padded so every prompt ends where generation starts."""
        import torch

        prompts = [self.encode(messages, system) for messages in conversations]
        kwargs = self._generation_kwargs(max(map(len, prompts)), gen)
        padded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            output = self.model.generate(**padded, **kwargs)
        responses = []
        for prompt, row in zip(prompts, output[:, padded["input_ids"].shape[1] :].tolist()):
            end = next((index + 1 for index, token in enumerate(row) if token in self.stop_ids), None)
            ids = row[:end] if end else row
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            responses.append(Response(text, len(prompt), len(ids), "stop" if end else "length"))
        return responses
