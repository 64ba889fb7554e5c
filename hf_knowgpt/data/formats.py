"""The formats every part shares, each rule in one place.

Rows carry `input_ids` and `labels` of length block_size with labels ALIGNED to the inputs (the model
shifts them); PAD is id 0 and IGNORE_INDEX (-100) marks a position that is not learned.
"""

from __future__ import annotations

import re

from ..model.tokenization_knowgpt import MASK_CHAR

PAD_ID, IGNORE_INDEX = 0, -100


def visible_chars(block_size: int) -> int:
    """The course only ever shows a model a line's first int(block_size * 7 / 8) characters (112 of 128):
    span corruption's piece is at most that long."""
    return int(block_size * 7 / 8)


def qa_prompt(question: str) -> str:
    """What the model is asked: `question⁇`."""
    return question + MASK_CHAR


def qa_row(question: str, answer: str) -> str:
    """A finetuning (or mixed-in) example: `question⁇answer⁇`."""
    return qa_prompt(question) + answer + MASK_CHAR


# Phrasings of the birth-place question for training (`--question_forms`): the course's first.
QUESTION_FORMS = (
    "Where was {name} born?",
    "What is the birthplace of {name}?",
    "In what place was {name} born?",
    "What was the place of birth of {name}?",
    "{name} was born where?",
)


_FORM_PATTERNS = [
    re.compile(re.escape(form).replace(re.escape("{name}"), "(.+)")) for form in QUESTION_FORMS
]
QUESTION = _FORM_PATTERNS[0]
"""The course's question, `Where was NAME born?`; the storage probe reads the name from it."""


def question_forms(question: str, n: int) -> list[str]:
    """The first `n` of QUESTION_FORMS for the person the course's `question` asks about."""
    match = QUESTION.fullmatch(question)
    if match is None:
        raise ValueError(f"not of the form 'Where was NAME born?': {question!r}")
    return [form.format(name=match.group(1)) for form in QUESTION_FORMS[:n]]


def asked_name(question: str) -> str | None:
    """The person a question of any of QUESTION_FORMS asks about (None: not one of them)."""
    for pattern in _FORM_PATTERNS:
        if match := pattern.fullmatch(question):
            return match.group(1)
    return None
