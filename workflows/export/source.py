"""What an export starts from: the base model with its adapters merged, the tokenizer and the run's template.

Before the last adapter is merged, the model answers a few fixed prompts with
the adapter still separate (base + LoRA, as in training and chat): those
logits are the reference the export check compares the written model with.
Earlier adapters are merged first, in order, as ``merge_adapters`` does.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from workflows.config import RunConfig
from workflows.models.loader import adapter_paths, load_model, load_tokenizer, resolve_model_path
from workflows.run_dir import read_run_config
from workflows.templates import ChatTemplate, get_template

logger = logging.getLogger(__name__)

CHECK_CONVERSATIONS = (
    [{"role": "user", "content": "Who are you?"}],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Name three colours."},
        {"role": "assistant", "content": "Red, green and blue."},
        {"role": "user", "content": "And one more?"},
    ],
    [{"role": "user", "content": "Write 1 + 1 in words."}, {"role": "assistant", "content": "Two."}],
)
"""Fixed conversations: their rendering is compared with the written tokenizer's, their logits with the written model's."""


@dataclass
class ExportSource:
    model: object  # the merged transformers model (eval mode)
    tokenizer: object
    template: ChatTemplate
    template_name: str
    base_path: str
    adapters: list[str]
    prompt_ids: list[list[int]]
    reference_logits: list  # one float32 tensor [tokens, vocab] per prompt, from base + unmerged last adapter

    @property
    def architecture(self) -> str:
        return (getattr(self.model.config, "architectures", None) or [type(self.model).__name__])[0]


def template_name_of(config: RunConfig, adapters: list[str]) -> str | None:
    """The template the run trained with: the config's, else the one recorded in the last adapter's run.yaml."""
    if config.data.template:
        return config.data.template
    for adapter in reversed(adapters):
        for folder in (Path(adapter), Path(adapter).parent):
            recorded = read_run_config(folder).get("template")
            if recorded:
                return str(recorded)
    return None


def tokenizer_source(config: RunConfig, adapters: list[str]) -> str:
    """The last adapter's folder when training saved a tokenizer there (it may have added tokens), else the base model."""
    for adapter in reversed(adapters):
        if (Path(adapter) / "tokenizer_config.json").is_file():
            return adapter
    return config.model.model_name_or_path


def load_source(config: RunConfig, device: str) -> ExportSource:
    import torch
    from peft import PeftModel

    from workflows.models.loader import merge_adapters

    adapters = adapter_paths(config.model)
    tokenizer = load_tokenizer(config.model.model_copy(update={"model_name_or_path": tokenizer_source(config, adapters)}))
    name = template_name_of(config, adapters)
    template = get_template(name, tokenizer, config.data.enable_thinking)
    template.fix_tokenizer(tokenizer)
    model = load_model(config.model, tokenizer)
    model = merge_adapters(model, adapters[:-1]).to(device).eval()
    prompt_ids = [
        template.encode_prompt(tokenizer, conversation[:-1] if conversation[-1]["role"] == "assistant" else conversation)
        for conversation in CHECK_CONVERSATIONS
    ]
    if adapters:
        model = PeftModel.from_pretrained(model, adapters[-1]).eval()
    with torch.no_grad():
        reference = [model(torch.tensor([ids], device=device)).logits[0].float().cpu() for ids in prompt_ids]
    if adapters:
        model = model.merge_and_unload()
        logger.info("Merged adapter %s", adapters[-1])
    return ExportSource(
        model=model,
        tokenizer=tokenizer,
        template=template,
        template_name=template.name,
        base_path=resolve_model_path(config.model.model_name_or_path),
        adapters=adapters,
        prompt_ids=prompt_ids,
        reference_logits=reference,
    )
