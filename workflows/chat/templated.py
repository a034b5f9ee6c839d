"""What every backend shares: prompts from our own template, validated requests, user stop strings.

The prompt ids come from our tokenizer and chat template whichever engine
generates, so switching ``infer_backend`` never changes what the model sees.
Each backend only translates ``Sampling`` into its own arguments and turns
prompt ids into streamed text.
"""

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Optional

from pydantic import ValidationError

from workflows.chat.base import ChatEngine, RequestError, with_system
from workflows.chat.stops import find_stop, held_back
from workflows.config import RunConfig
from workflows.config.schema import GenerationArgs
from workflows.models.loader import adapter_paths, load_tokenizer
from workflows.templates import get_template
from workflows.templates.base import split_conversation


@dataclass(frozen=True)
class Sampling:
    """One request's generation settings: the config's GenerationArgs with the request's overrides,
    validated, and ``max_new_tokens`` capped by the room the prompt leaves in the context."""

    max_new_tokens: int
    repetition_penalty: float
    greedy: bool
    temperature: float
    top_p: float
    top_k: int

    def sampler_options(self) -> dict:
        """temperature, top_p and top_k as vLLM and SGLang take them: temperature 0 is greedy, top_k -1 is no limit."""
        if self.greedy:
            return {"temperature": 0.0}
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k or -1}


def context_length_of(model_config, cutoff_len: int) -> int:
    """The positions the model was trained for, or ``cutoff_len`` when its config does not say."""
    return int(getattr(model_config, "max_position_embeddings", None) or cutoff_len)


class StopStrings:
    """User stop strings applied to text as it streams in: ``feed`` a piece, get back the text now safe to show.

    At the first stop string the text is cut there and ``stop_generation`` is
    called; what comes after is dropped (generation stops within a token).
    """

    def __init__(self, stops: list[str], stop_generation: Callable[[], None]):
        self.stops, self.stop_generation = stops, stop_generation
        self.text, self.shown, self.hit_stop = "", 0, False

    def feed(self, piece: str) -> str:
        if self.hit_stop or not piece:
            return ""
        self.text += piece
        cut = find_stop(self.text, self.stops)
        if cut is not None:
            self.text, self.hit_stop = self.text[:cut], True
            self.stop_generation()
        safe = len(self.text) if self.hit_stop else len(self.text) - held_back(self.text, self.stops)
        return self._show(safe)

    def rest(self) -> str:
        """The text held back so far, once no more pieces come."""
        return self._show(len(self.text))

    def _show(self, end: int) -> str:
        if end <= self.shown:
            return ""
        piece, self.shown = self.text[self.shown : end], end
        return piece


def cut_at_stops(pieces: Iterable[str], stops: list[str], stop_generation: Callable[[], None]) -> Generator[str, None, tuple[str, bool]]:
    """Yield the text of ``pieces`` as it becomes safe to show; return (the text, whether a stop string ended it)."""
    cutter = StopStrings(stops, stop_generation)
    for piece in pieces:
        if safe := cutter.feed(piece):
            yield safe
    if rest := cutter.rest():
        yield rest
    return cutter.text, cutter.hit_stop


class TemplatedEngine(ChatEngine):
    """A ChatEngine that builds prompts itself; subclasses load a model and set ``context_length``.

    Generation stops at the template's stop words as well as at eos: ``stop_ids`` holds their ids.
    """

    def __init__(self, config: RunConfig):
        self.adapters = adapter_paths(config.model)
        self.tokenizer = load_tokenizer(config.model, padding_side="left")
        self.template = get_template(config.data.template, self.tokenizer, config.data.enable_thinking)
        self.template.fix_tokenizer(self.tokenizer)
        self.generation = config.generation
        self.default_system = config.data.default_system
        self.model_name = config.model.model_name_or_path
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

    def sampling(self, prompt_length: int, overrides: dict) -> Sampling:
        """The settings for one request; a bad override is a RequestError naming the key."""
        try:
            args = GenerationArgs(**{**self.generation.model_dump(), **overrides})
        except ValidationError as error:
            problem = error.errors()[0]
            raise RequestError(f"`{problem['loc'][0]}`: {problem['msg']}") from None
        return Sampling(
            max_new_tokens=min(args.max_new_tokens, self.context_length - prompt_length),
            repetition_penalty=args.repetition_penalty,
            greedy=not (args.do_sample and args.temperature > 0),
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
        )
