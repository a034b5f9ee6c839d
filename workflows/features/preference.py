"""Features of the alignment stages: chosen/rejected pairs (rm, dpo), labelled answers (kto), prompts (ppo).

Rows, one per example (``labels`` are -100 everywhere but the last answer):

    pairwise   input_ids, labels (prompt + chosen), rejected_input_ids, rejected_labels (prompt + rejected)
    kto        input_ids, labels (prompt + answer), kto_tag (1 desirable, 0 undesirable),
               kl_input_ids, kl_labels (the prompt + the previous example's answer: ``with_kl_rows``)
    prompt     input_ids (the conversation up to the generation prompt), labels (the reference answer, unused)

Both answers of a pair share one prompt and one length budget (``cutoff_len``),
split between prompt and answer as for sft, so the prompt is cut the same way
for both.
"""

from workflows.config.schema import DataArgs
from workflows.features.supervised import IGNORE_INDEX, infer_seqlen


def _prompt_and_answer(template, tokenizer, messages: list[dict], answer: dict, tools) -> tuple[list[int], list[int]]:
    """The whole prompt (earlier turns included) and the tokens of the final answer."""
    pairs = template.encode_multiturn(tokenizer, messages + [answer], tools=tools)
    prompt_ids = [token for prompt, reply in pairs[:-1] for token in prompt + reply] + list(pairs[-1][0])
    return prompt_ids, list(pairs[-1][1])


def _join(prompt_ids: list[int], answer_ids: list[int]) -> tuple[list[int], list[int]]:
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


def encode_pairwise(example: dict, template, tokenizer, data_args: DataArgs) -> dict:
    tools = example.get("tools")
    prompt_ids, chosen_ids = _prompt_and_answer(template, tokenizer, example["messages"], example["chosen"], tools)
    _, rejected_ids = _prompt_and_answer(template, tokenizer, example["messages"], example["rejected"], tools)
    prompt_len, answer_len = infer_seqlen(len(prompt_ids), max(len(chosen_ids), len(rejected_ids)), data_args.cutoff_len)
    prompt_ids = prompt_ids[-prompt_len:] if prompt_len else []  # keep the end of the prompt: the question
    chosen_input, chosen_labels = _join(prompt_ids, chosen_ids[:answer_len])
    rejected_input, rejected_labels = _join(prompt_ids, rejected_ids[:answer_len])
    return {"input_ids": chosen_input, "labels": chosen_labels, "rejected_input_ids": rejected_input, "rejected_labels": rejected_labels}


def encode_kto(example: dict, template, tokenizer, data_args: DataArgs) -> dict:
    messages = example["messages"]
    prompt_ids, answer_ids = _prompt_and_answer(template, tokenizer, messages[:-1], messages[-1], example.get("tools"))
    prompt_len, answer_len = infer_seqlen(len(prompt_ids), len(answer_ids), data_args.cutoff_len)
    input_ids, labels = _join(prompt_ids[-prompt_len:] if prompt_len else [], answer_ids[:answer_len])
    return {"input_ids": input_ids, "labels": labels, "kto_tag": int(bool(example["kto_tag"]))}


def with_kl_rows(rows: list[dict], cutoff_len: int) -> list[dict]:
    """Adds each kto row's KL row: its prompt with the previous row's answer (the first row takes the last's).

    KTO's reference point is the policy's KL to the reference model, estimated on such mismatched prompt/answer pairs
    (LLaMA-Factory's +1 offset; trl's KTOTrainer does the same), so the estimate does not move with the answers being
    trained. Built over the whole split rather than per batch, so a batch of one has a mismatched pair too.
    """
    prompts_and_answers = [_split_row(row) for row in rows]
    previous = prompts_and_answers[-1:] + prompts_and_answers[:-1]
    for row, (prompt_ids, _), (_, answer_ids) in zip(rows, prompts_and_answers, previous):
        prompt_len, answer_len = infer_seqlen(len(prompt_ids), len(answer_ids), cutoff_len)
        row["kl_input_ids"], row["kl_labels"] = _join(prompt_ids[-prompt_len:] if prompt_len else [], answer_ids[:answer_len])
    return rows


def _split_row(row: dict) -> tuple[list[int], list[int]]:
    """The prompt (the labels' masked start) and the answer of a row."""
    start = next(index for index, label in enumerate(row["labels"]) if label != IGNORE_INDEX)
    return row["input_ids"][:start], row["input_ids"][start:]


def encode_prompt(example: dict, template, tokenizer, data_args: DataArgs) -> dict:
    """PPO rollouts start from the prompt; the dataset's answer is kept as labels only for previews."""
    messages = example["messages"]
    prompt_ids, answer_ids = _prompt_and_answer(template, tokenizer, messages[:-1], messages[-1], example.get("tools"))
    prompt_ids = prompt_ids[-max(data_args.cutoff_len // 2, 1) :]
    return {"input_ids": prompt_ids, "labels": [IGNORE_INDEX] * len(prompt_ids)}
