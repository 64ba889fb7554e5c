"""Knowledge augmentation of the pretraining corpus (Allen-Zhu & Li, "Physics of Language Models 3.1").

A model that sees each fact in one form stores it but cannot extract it for a new person; the same
facts in other orders ("permute") and with the person named in full in every sentence ("fullname")
make it extractable. These functions make such copies of a corpus in the course's layout, where
each line is one person's biography and starts with the name as its own sentence ("Ada Lovelace. ...").
The originals are never changed: the copies are extra documents.
"""

from __future__ import annotations

import random
import re

_SENTENCE_BREAK = re.compile(r"(?:(?<=\w\w\.)|(?<= \.)) (?=[A-Z])")
"""Between sentences: after a period that ends a word of two or more characters, or stands alone
(the course's "in Lebanon ."), and before a capital; not after an initial ("J. Bjornsson")."""
_TITLE = re.compile(r"(.*?\w\w)\. ")
"""The line's title: the text before its first ". " that ends a word of two or more characters, so
that an initial ("Paolo J. Bjornsson. ...") does not end it."""


def title(doc: str) -> str | None:
    """The person's name that heads a biography line, or None when the line has no title sentence."""
    m = _TITLE.match(doc)
    return m.group(1) if m else None


def name_in_full(doc: str) -> str:
    """The biography with every later mention of the person by a trailing part of the name (the
    surname, "Toulmin Smith", or the full name itself) written as the full name. A line without a
    title, or whose name is one word, is returned unchanged."""
    name = title(doc)
    if name is None or " " not in name:
        return doc
    words = name.split()
    tails = sorted({" ".join(words[i:]) for i in range(len(words))}, key=len, reverse=True)
    head, body = doc[: len(name) + 2], doc[len(name) + 2 :]
    # Whole words only: "Smith" in "Smithson" or in "Fairbanks-Smith" is another name.
    pattern = rf"(?<![\w-])(?:{'|'.join(map(re.escape, tails))})(?![\w-])"
    return head + re.sub(pattern, lambda _: name, body)


def augmented_documents(
    docs: list[str], copies: int, seed: int, full_names: bool = False
) -> list[str]:
    """`copies` variants of each document, its sentences after the title shuffled ("permute"); with
    full_names, every mention of the person in them is the full name as well ("fullname")."""
    rng = random.Random(seed)
    out = []
    for doc in docs:
        if full_names:
            doc = name_in_full(doc)
        name = title(doc)
        if name is None:
            head, *rest = _SENTENCE_BREAK.split(doc)
        else:
            head, rest = doc[: len(name) + 1], _SENTENCE_BREAK.split(doc[len(name) + 2 :])
        for _ in range(copies):
            rng.shuffle(rest)
            out.append(" ".join([head, *rest]))
    return out
