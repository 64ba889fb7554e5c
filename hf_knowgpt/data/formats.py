"""The formats every part shares, each rule in one place.

Rows carry `input_ids` and `labels` of length block_size with labels ALIGNED to the inputs (the model
shifts them); PAD is id 0 and IGNORE_INDEX (-100) marks a position that is not learned.
"""

from __future__ import annotations

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
