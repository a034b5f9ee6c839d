"""Supervised examples: render turns with the template and mask everything but the answers."""

from workflows.config.schema import DataArgs

IGNORE_INDEX = -100


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """Split a token budget between prompt and answer as LLaMA-Factory does.

    A short answer keeps all of its tokens; otherwise both sides shrink in
    proportion to their length, so a long prompt cannot squeeze the answer out.
    """
    if target_len * 2 < cutoff_len:
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target_len = cutoff_len - source_len
    else:
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    new_source_len = min(max(cutoff_len - new_target_len, 0), source_len)
    return new_source_len, new_target_len


def encode_supervised(example: dict, template, tokenizer, data_args: DataArgs) -> dict:
    """Token ids and labels of one conversation, at most `cutoff_len` long.

    Returns `input_ids`, `labels` and `dropped_answer_tokens` (answer tokens
    lost to truncation, for the statistics `preview-data --stats` prints).
    """
    return supervised_features(template.encode_multiturn(tokenizer, example["messages"], tools=example.get("tools")), data_args)


def supervised_features(pairs: list[tuple[list[int], list[int]]], data_args: DataArgs) -> dict:
    """``encode_supervised`` from the conversation's (prompt_ids, answer_ids) pairs."""
    if data_args.mask_history:  # the last answer matters most: truncate history first
        pairs = pairs[::-1]
    input_ids: list[int] = []
    labels: list[int] = []
    dropped = 0
    for turn, (prompt_ids, answer_ids) in enumerate(pairs):
        budget = data_args.cutoff_len - len(input_ids)
        if budget <= 0:
            dropped += len(answer_ids)
            continue
        prompt_len, answer_len = infer_seqlen(len(prompt_ids), len(answer_ids), budget)
        prompt_ids, kept_answer = prompt_ids[:prompt_len], answer_ids[:answer_len]
        dropped += len(answer_ids) - answer_len
        learn_answer = not data_args.mask_history or turn == 0
        prompt_labels = list(prompt_ids) if data_args.train_on_prompt else [IGNORE_INDEX] * len(prompt_ids)
        answer_labels = list(kept_answer) if learn_answer else [IGNORE_INDEX] * len(kept_answer)
        if data_args.mask_history:
            input_ids = prompt_ids + kept_answer + input_ids
            labels = prompt_labels + answer_labels + labels
        else:
            input_ids += prompt_ids + kept_answer
            labels += prompt_labels + answer_labels
    return {"input_ids": input_ids, "labels": labels, "dropped_answer_tokens": dropped}
