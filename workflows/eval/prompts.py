"""Benchmark prompts: LLaMA-Factory's evaluation wording (``eval/template.py``), as chat messages.

Each solved dev example is a user turn (question, choices, "Answer:") and an
assistant turn (the letter); the question asked comes last, and the first
user turn starts with the subject's header. The chat template then renders
these turns, so the model is asked the way it was trained to answer.
"""

import random
from dataclasses import dataclass

from workflows.eval.benchmark import CHOICES, Question, Subject


@dataclass(frozen=True)
class EvalWording:
    system: str  # formatted with {subject}, prepended to the first user turn
    choice: str  # formatted with {choice} and {content}
    answer: str


WORDINGS = {
    "en": EvalWording(
        system="The following are multiple choice questions (with answers) about {subject}.\n\n",
        choice="\n{choice}. {content}",
        answer="\nAnswer:",
    ),
    "zh": EvalWording(
        system="以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n",
        choice="\n{choice}. {content}",
        answer="\n答案：",
    ),
}


def question_text(question: Question, wording: EvalWording) -> str:
    choices = "".join(wording.choice.format(choice=letter, content=question.choices[letter]) for letter in CHOICES)
    return question.question + choices + wording.answer


def few_shot_examples(subject: Subject, index: int, n_shot: int, seed: int) -> list[Question]:
    """``n_shot`` dev examples for question ``index``: a fresh sample per question, like LLaMA-Factory's
    shuffle, but seeded by (seed, subject, index) so a run, a resumed run and any batch size ask the same prompts."""
    return random.Random(f"{seed}:{subject.key}:{index}").sample(subject.dev, n_shot)


def question_messages(subject: Subject, index: int, n_shot: int, seed: int, wording: EvalWording) -> list[dict]:
    """The conversation ending with the user turn that asks question ``index`` (no answer turn)."""
    messages = []
    for example in few_shot_examples(subject, index, n_shot, seed):
        messages += [{"role": "user", "content": question_text(example, wording)}, {"role": "assistant", "content": example.answer}]
    messages.append({"role": "user", "content": question_text(subject.questions[index], wording)})
    messages[0]["content"] = wording.system.format(subject=subject.name) + messages[0]["content"]
    return messages
