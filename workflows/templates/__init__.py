"""Chat templates: how a conversation becomes the exact text and tokens a model expects.

``get_template(name, tokenizer)`` returns a ``ChatTemplate`` bound to the
tokenizer. Named templates follow LLaMA-Factory's names and render what the
model family's official chat template renders; ``auto`` renders with the
tokenizer's own Jinja ``chat_template``. LLaMA-Factory's templates for vision,
video and audio models are refused until such inputs are supported.
"""

import difflib

from workflows.errors import ConfigError
from workflows.templates.base import ChatTemplate
from workflows.templates.formats import SlotTemplate, TemplateSpec
from workflows.templates.jinja import JinjaTemplate, special_tokens_of
from workflows.templates.registry import MULTIMODAL_ONLY, TEMPLATE_SPECS, multimodal_refusal

__all__ = ["ChatTemplate", "JinjaTemplate", "SlotTemplate", "TemplateSpec", "get_template", "list_templates"]


def list_templates() -> list[str]:
    """Every name ``template`` accepts."""
    return [*TEMPLATE_SPECS, "auto"]


def get_template(name: str | None, tokenizer, enable_thinking: bool = True) -> ChatTemplate:
    """The template called ``name``, bound to ``tokenizer``.

    ``None`` picks ``auto`` when the tokenizer has its own chat_template and
    ``default`` otherwise. ``enable_thinking=False`` trains and prompts
    reasoning templates (qwen3, deepseekr1) without thoughts.
    """
    chat_template = getattr(tokenizer, "chat_template", None)
    if name is None:
        name = "auto" if isinstance(chat_template, str) else "default"
    if name == "auto":
        if not isinstance(chat_template, str):
            raise ConfigError(
                "template 'auto' needs the tokenizer's own chat_template, but this tokenizer has none: "
                f"set template to one of {', '.join(TEMPLATE_SPECS)}"
            )
        return JinjaTemplate(chat_template, special_tokens_of(tokenizer), tokenizer, enable_thinking)
    if name in MULTIMODAL_ONLY:
        raise ConfigError(multimodal_refusal(name))
    if name not in TEMPLATE_SPECS:
        nearest = difflib.get_close_matches(str(name), list_templates(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(map(repr, nearest))}? " if nearest else ""
        raise ConfigError(f"template {name!r} is not a known chat template: {hint}valid: {', '.join(list_templates())}")
    return SlotTemplate(TEMPLATE_SPECS[name], tokenizer, enable_thinking)
