"""Pretraining objectives: the course's span corruption (with salient spans) and next-character LM.

Span corruption follows the course handout (Stanford CS224N, "Self-Attention, Transformers and
Pretraining"); the rule lives in `SpanCorruption.draw`.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..model.tokenization_knowgpt import MASK_CHAR, KnowGPTTokenizer
from .formats import IGNORE_INDEX, PAD_ID, visible_chars


def masked_length(length: int, rng: np.random.Generator) -> int:
    """Uniform on [1, h], h = L/2 - 1 rounded down or up with equal chance: mean exactly L/4 for L >= 4."""
    h = (length - 2 + int(rng.integers(0, 2))) // 2
    return int(rng.integers(1, max(h, 1), endpoint=True))


class DocumentTransform:
    """Batch transform for `Dataset.set_transform`: draws each row anew from (seed, epoch, idx).

    Rows with `formatted` True (pre-rendered lines such as `question⁇place⁇`) are plain LM
    examples. Set `.epoch` (or call `set_epoch(dataset, epoch)`) before iterating an epoch.
    """

    def __init__(self, tokenizer: KnowGPTTokenizer, block_size: int = 128, seed: int = 0):
        self.tokenizer, self.block_size, self.seed, self.epoch = tokenizer, block_size, seed, 0

    def draw(self, document: str, rng: np.random.Generator) -> str:
        raise NotImplementedError

    def lead_in(self, piece: str, formatted: bool, rng: np.random.Generator) -> str:
        """The row's text given its piece (a drawn window, or a pre-rendered line as it is)."""
        return piece

    def __call__(self, batch: dict[str, list]) -> dict[str, torch.Tensor]:
        formatted = batch.get("formatted", [False] * len(batch["text"]))
        input_ids = np.full((len(batch["text"]), self.block_size), PAD_ID, dtype=np.int64)
        for row, (text, idx, as_is) in enumerate(
            zip(batch["text"], batch["idx"], formatted, strict=True)
        ):
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            piece = text if as_is else self.draw(text, rng)
            ids = self.tokenizer.encode_chars(self.lead_in(piece, as_is, rng))
            input_ids[row, : len(ids)] = ids[: self.block_size]  # string[:-1] of the padded string
        labels = np.where(input_ids == PAD_ID, IGNORE_INDEX, input_ids)
        return {"input_ids": torch.from_numpy(input_ids), "labels": torch.from_numpy(labels)}


_WORD = re.compile(r"[\w'’-]+")


_PARTICLES = frozenset("de da del der di do dos du la le of the van von y".split())


def salient_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each named-entity-like span: a run of capitalised words one space apart,
    lower-case particles allowed inside ("Rio de Janeiro", "Jacob Henry Studer")."""
    words = [m.span() for m in _WORD.finditer(text)]
    spans, i = [], 0
    while i < len(words):
        if not text[words[i][0]].isupper():
            i += 1
            continue
        last = j = i
        while j + 1 < len(words) and text[words[j][1] : words[j + 1][0]] == " ":
            j += 1
            word = text[words[j][0] : words[j][1]]
            if word[0].isupper():
                last = j
            elif word not in _PARTICLES:
                break
        spans.append((words[i][0], words[last][1]))
        i = last + 1
    return spans


class SpanCorruption(DocumentTransform):
    """CS224N span corruption: `prefix ⁇ suffix ⁇ masked □…` of a randomly truncated document.

    `window="prefix"` (the course) truncates to the document's start; `window="random"` takes
    the piece of length L anywhere in the document, so text past position 112 is seen too;
    `window="whole"` takes the start uncut (the first 112 characters), so every example of a
    short document holds all of its facts.
    With `salient` > 0, that share of the examples masks a whole named entity of the piece
    instead of a random span (salient span masking, Guu et al. 2020, "REALM"; Roberts et al. 2020
    find it helps closed-book QA): the model then learns to write a name or place after the
    second ⁇ from the rest of the text, which is what a question asks of it. Entities cut by the
    piece's edge, or that occur twice in it (so could be copied), are not chosen.
    """

    def __init__(
        self,
        tokenizer,
        block_size: int = 128,
        seed: int = 0,
        window: str = "prefix",
        salient: float = 0.0,
    ):
        super().__init__(tokenizer, block_size, seed)
        if window not in ("prefix", "random", "whole"):
            raise ValueError(f"window must be 'prefix', 'random' or 'whole', got {window!r}")
        if visible_chars(block_size) < 4:
            raise ValueError(f"block_size must be at least 5 for span corruption, got {block_size}")
        if not 0.0 <= salient <= 1.0:
            raise ValueError(f"salient must be a share in [0, 1], got {salient!r}")
        self.window, self.salient = window, salient

    def draw(self, document: str, rng: np.random.Generator) -> str:
        length = min(
            len(document), int(rng.integers(4, visible_chars(self.block_size), endpoint=True))
        )
        if self.window == "whole":
            length = min(len(document), visible_chars(self.block_size))
        start = 0
        if self.window == "random":
            start = int(rng.integers(0, len(document) - length, endpoint=True))
        piece = document[start : start + length]
        span = masked_length(length, rng)
        cut = int(rng.integers(0, length - span, endpoint=True))
        if self.salient and rng.random() < self.salient:
            whole = start == 0, start + length == len(document)  # is the piece's edge the text's?
            entities = [
                (b, e)
                for b, e in salient_spans(piece)
                if (b > 0 or whole[0])
                and (e < length or whole[1])
                and piece.count(piece[b:e]) == 1  # a name repeated in the piece is a mere copy
            ]
            if entities:
                begin, end = entities[int(rng.integers(0, len(entities)))]
                cut, span = begin, end - begin
        prefix, masked, suffix = piece[:cut], piece[cut : cut + span], piece[cut + span :]
        return prefix + MASK_CHAR + suffix + MASK_CHAR + masked


class NextCharLM(DocumentTransform):
    """Plain next-character LM on a window of block_size characters.

    `window="random"` starts anywhere; `window="prefix"` always reads the document's start, where
    the person's name is (a fact far from the name is stored against nobody). `window="stream"`
    reads the start too, but puts the tail of another random document before it (and before
    pre-rendered lines): the row starts in the previous document, as rows cut from a packed stream
    do in GPT pretraining. Each document then begins at a random position (0 to block_size / 2)
    after unrelated text, so a fact is not stored against position 0 and the start of a line,
    where a question never puts the name.
    """

    WINDOWS = ("prefix", "random", "stream")

    def __init__(
        self,
        tokenizer,
        block_size: int = 128,
        seed: int = 0,
        window: str = "random",
        documents: list[str] | None = None,
    ):
        super().__init__(tokenizer, block_size, seed)
        if window not in self.WINDOWS:
            raise ValueError(f"window must be one of {self.WINDOWS}, got {window!r}")
        if window == "stream" and not documents:
            raise ValueError("window='stream' needs the documents to take lead-ins from")
        self.window, self.documents = window, documents

    def draw(self, document: str, rng: np.random.Generator) -> str:
        width = min(len(document), self.block_size)
        start = 0
        if self.window == "random":
            start = int(rng.integers(0, len(document) - width, endpoint=True))
        return document[start : start + width]

    def lead_in(self, piece: str, formatted: bool, rng: np.random.Generator) -> str:
        if self.window != "stream":
            return piece
        shift = int(rng.integers(0, self.block_size // 2, endpoint=True))
        if formatted:  # a question and its answer stay whole
            shift = min(shift, self.block_size - len(piece))
        previous = self.documents[int(rng.integers(0, len(self.documents)))]
        lead = (previous + " ")[-shift:] if shift else ""
        return (lead + piece)[: self.block_size]
