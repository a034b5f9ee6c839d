"""Pre-training text: every document ends with EOS and is cut into `cutoff_len` chunks."""

from workflows.config.schema import DataArgs


def encode_pretrain(example: dict, tokenizer, data_args: DataArgs) -> list[dict]:
    """One or more chunks of one document; every token is a label.

    Long documents are split rather than truncated so that no text is thrown
    away; each chunk is its own sequence (packing later keeps them apart).
    """
    ids = tokenizer(example["text"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False):
        ids = [tokenizer.bos_token_id] + ids
    size = data_args.cutoff_len
    return [{"input_ids": ids[start : start + size], "labels": ids[start : start + size]} for start in range(0, len(ids), size)]
