"""Pick each question's answer: the choice whose first token is the most likely next token.

This is LLaMA-Factory's scoring (``eval/evaluator.py``): one forward pass over
the prompt, the next-token logits restricted to the ids of "A", "B", "C", "D"
(the last token of each letter encoded alone), argmax. Nothing is generated.

The model is behind ``NextTokenLogits``: a callable from a batch of prompt ids
to one row of next-token logits per prompt. ``ModelNextTokenLogits`` runs a
transformers model; tests plug in a scripted source and so check the scoring
and the aggregation with known answers, independently of any model's skill.
"""

from collections.abc import Callable, Sequence
from typing import Optional, Protocol

from workflows.chat.base import with_system
from workflows.config import RunConfig
from workflows.eval.benchmark import CHOICES


class NextTokenLogits(Protocol):
    def __call__(self, prompts: list[list[int]]) -> Sequence[Sequence[float]]:
        """One row of logits over the vocabulary per prompt: the scores of the token that would come next."""


class ChoiceScorer:
    """Turns conversations into letters: ``encode`` renders the prompt ids, ``logits`` scores the next token."""

    def __init__(self, encode: Callable[[list[dict]], list[int]], choice_ids: list[int], logits: NextTokenLogits):
        self.encode, self.choice_ids, self.logits = encode, choice_ids, logits

    def answer(self, conversations: list[list[dict]]) -> list[str]:
        rows = self.logits([self.encode(messages) for messages in conversations])
        return [CHOICES[max(range(len(CHOICES)), key=lambda offset: float(row[self.choice_ids[offset]]))] for row in rows]


def choice_token_ids(tokenizer) -> list[int]:
    """The id scored for each letter: the last token of the letter encoded alone, as LLaMA-Factory does."""
    return [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in CHOICES]


def prompt_encoder(config: RunConfig, tokenizer) -> Callable[[list[dict]], list[int]]:
    """The config's chat template as a function from a conversation (ending with a user turn) to prompt ids."""
    from workflows.templates import get_template

    template = get_template(config.data.template, tokenizer, config.data.enable_thinking)
    template.fix_tokenizer(tokenizer)

    def encode(messages: list[dict]) -> list[int]:
        return template.encode_prompt(tokenizer, with_system(messages, config.data.default_system))

    return encode


class ModelNextTokenLogits:
    """Next-token logits from the config's model (with its adapters merged), on the GPU when there is one.

    Prompts are left-padded with explicit position ids, so every row's next
    token is the last position and only that position's logits are computed.
    """

    def __init__(self, config: RunConfig, tokenizer):
        import torch

        from workflows.models.loader import adapter_paths, load_model, merge_adapters

        model = merge_adapters(load_model(config.model, tokenizer), adapter_paths(config.model))
        self.model = model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        self.pad_id: Optional[int] = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __call__(self, prompts: list[list[int]]):
        import torch

        width = max(map(len, prompts))
        ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.model.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
        return logits[:, -1].float().cpu()


def model_choice_scorer(config: RunConfig) -> ChoiceScorer:
    """The scorer of a real run: the config's tokenizer, template and model."""
    from workflows.models.loader import load_tokenizer

    tokenizer = load_tokenizer(config.model, padding_side="left")
    encode = prompt_encoder(config, tokenizer)
    return ChoiceScorer(encode, choice_token_ids(tokenizer), ModelNextTokenLogits(config, tokenizer))
