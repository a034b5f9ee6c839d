"""The default backend: Hugging Face transformers on whatever device torch sees.

Streaming runs ``generate`` in a thread that feeds a ``TokenStreamer``;
the caller reads pieces as they come. Generation ends at the template's stop
words (they are eos ids here), at a user stop string, at ``max_new_tokens``,
or when the caller closes the stream.
"""

import threading
from collections.abc import Iterator
from typing import Optional

from workflows.chat.base import Response, TextStream
from workflows.chat.streamer import TokenStreamer
from workflows.chat.templated import TemplatedEngine, context_length_of, cut_at_stops
from workflows.config import RunConfig
from workflows.models.loader import load_model, merge_adapters


class HuggingFaceEngine(TemplatedEngine):
    def __init__(self, config: RunConfig):
        import torch

        super().__init__(config)
        model = merge_adapters(load_model(config.model, self.tokenizer), self.adapters)
        self.model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        self.context_length = context_length_of(model.config, config.data.cutoff_len)

    def _generation_kwargs(self, prompt_length: int, overrides: dict) -> dict:
        """``generate`` arguments: the request's ``sampling`` in transformers' terms."""
        sampling = self.sampling(prompt_length, overrides)
        kwargs = {
            "max_new_tokens": sampling.max_new_tokens,
            "repetition_penalty": sampling.repetition_penalty,
            "do_sample": not sampling.greedy,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sampling.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
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
        text, hit_stop = yield from cut_at_stops(streamer, stops, cancelled.set)
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
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
