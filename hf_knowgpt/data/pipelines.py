"""`datasets` pipelines: pretraining documents with an on-the-fly objective, and finetuning rows."""

from __future__ import annotations

import os

from datasets import Dataset

from ..model.tokenization_knowgpt import MASK_CHAR, KnowGPTTokenizer
from .formats import IGNORE_INDEX, PAD_ID, qa_prompt, qa_row, question_forms
from .objectives import DocumentTransform, NextCharLM, SpanCorruption
from .readers import DataError, _encode_or_raise, read_corpus, read_qa


def set_epoch(dataset, epoch: int) -> None:
    """Set the epoch of the pretraining transform of `dataset` (or of a DataLoader's dataset).

    accelerate's `dl.set_epoch` does not reach HF Dataset transforms; call this before each
    epoch's iteration (and use persistent_workers=False, or workers keep a stale copy).
    """
    fmt = getattr(dataset, "format", None)
    transform = fmt.get("format_kwargs", {}).get("transform") if isinstance(fmt, dict) else None
    if isinstance(transform, DocumentTransform):
        transform.epoch = epoch
    elif getattr(dataset, "dataset", None) is not None:
        set_epoch(dataset.dataset, epoch)
    else:
        raise ValueError(
            "no pretraining transform found; build the dataset with pretraining_dataset"
        )


def _check_documents(tokenizer, docs: list[str], path, block_size: int, formatted=None) -> None:
    for number, doc in enumerate(docs, 1):
        if not doc.strip():
            raise DataError(path, number, "blank document; remove it")
        _encode_or_raise(tokenizer, doc, path, number)
        if formatted is not None and formatted[number - 1] and len(doc) > block_size:
            raise DataError(
                path,
                number,
                f"pre-formatted line of {len(doc)} characters exceeds block_size {block_size}",
            )


def pretraining_dataset(
    corpus_file: str | os.PathLike,
    tokenizer: KnowGPTTokenizer,
    block_size: int = 128,
    seed: int = 0,
    objective: str = "span",
    window: str = "prefix",
    extra_documents: list[str] | None = None,
    salient: float = 0.0,
) -> Dataset:
    """Documents of the corpus with an on-the-fly transform giving `input_ids`, `labels` rows.

    Args:
        corpus_file: one document per line (wiki.txt).
        tokenizer: the character tokenizer; every corpus character must be in it.
        block_size: length of each row.
        seed: random streams are keyed by (seed, epoch, idx); set the epoch with `set_epoch`.
        objective: "span" (span corruption, the course) or "lm" (next-character LM windows).
        window: "prefix" (the course: the document's start) or "random" (a piece anywhere in the
            document); for "lm" also "stream" (the start after another document's tail).
        extra_documents: more lines; those containing ⁇ are used as they are (LM examples,
            labels on every non-PAD position, e.g. `question⁇place⁇`), the others as documents.
        salient: for "span", the share of examples that mask a named entity (`SpanCorruption`).
    """
    docs = read_corpus(corpus_file)
    _check_documents(tokenizer, docs, corpus_file, block_size)
    extra = list(extra_documents or [])
    formatted = [MASK_CHAR in doc for doc in extra]
    _check_documents(tokenizer, extra, "extra_documents", block_size, formatted)
    if objective == "span":
        transform: DocumentTransform = SpanCorruption(tokenizer, block_size, seed, window, salient)
    elif salient:
        raise ValueError("salient span masking needs objective='span'")
    elif objective == "lm":
        transform = NextCharLM(tokenizer, block_size, seed, window, documents=docs)
    else:
        raise ValueError(f"objective must be 'span' or 'lm', got {objective!r}")
    texts = docs + extra
    dataset = Dataset.from_dict(
        {
            "text": texts,
            "idx": list(range(len(texts))),
            "formatted": [False] * len(docs) + formatted,
        }
    )
    dataset.set_transform(transform)
    return dataset


def _birthplace_rows(batch: dict[str, list], tokenizer, block_size: int) -> dict[str, list]:
    """`question ⁇ place ⁇ □…`; labels only on `⁇place⁇` (the question and PAD are -100)."""
    input_ids, labels = [], []
    for question, answer in zip(batch["question"], batch["answer"], strict=True):
        ids = tokenizer.encode_chars(qa_row(question, answer))
        pad = block_size - len(ids)
        input_ids.append(ids + [PAD_ID] * pad)
        labels.append([IGNORE_INDEX] * len(question) + ids[len(question) :] + [IGNORE_INDEX] * pad)
    return {"input_ids": input_ids, "labels": labels}


def train_pairs(tsv_file, tokenizer, block_size: int, forms: int = 1) -> list[tuple[str, str]]:
    """The (question, answer) pairs training reads: each once per phrasing of its question (`forms`,
    `formats.QUESTION_FORMS`); a question that cannot be phrased so is a DataError."""
    pairs = read_qa(tsv_file, tokenizer, block_size, require_answers=True)
    if forms == 1:
        return pairs
    out = []
    for line, (question, answer) in enumerate(pairs, start=1):
        try:
            phrasings = question_forms(question, forms)
            for phrasing in phrasings:
                tokenizer.encode_chars(qa_row(phrasing, answer))
        except ValueError as err:  # OutOfVocabularyError is one
            raise DataError(tsv_file, line, f"cannot rephrase the question: {err}") from None
        if max(len(qa_row(p, answer)) for p in phrasings) > block_size:
            raise DataError(
                tsv_file, line, f"a phrasing of {question!r} does not fit block_size {block_size}"
            )
        out += [(phrasing, answer) for phrasing in phrasings]
    return out


def birthplace_dataset(
    tsv_file: str | os.PathLike,
    tokenizer: KnowGPTTokenizer,
    block_size: int = 128,
    forms: int = 1,
) -> Dataset:
    """Finetuning rows `question`, `answer`, `input_ids`, `labels` (tensors of length block_size).

    Args:
        tsv_file: `Where was NAME born?<TAB>PLACE` lines (answers required; for question-only
            files use `prompts_dataset`).
        tokenizer: the character tokenizer.
        block_size: length of each row; longer examples are a DataError.
        forms: rows per pair, one per phrasing (`formats.QUESTION_FORMS`; 1: the file's question).
    """
    pairs = train_pairs(tsv_file, tokenizer, block_size, forms)
    dataset = Dataset.from_dict(
        {"question": [q for q, _ in pairs], "answer": [a for _, a in pairs]}
    )
    dataset = dataset.map(
        _birthplace_rows,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "block_size": block_size},
        desc="birth-place examples",
    )
    dataset.set_format("torch", columns=["input_ids", "labels"], output_all_columns=True)
    return dataset


def prompts_dataset(
    tsv_file: str | os.PathLike, tokenizer: KnowGPTTokenizer, block_size: int = 128
) -> Dataset:
    """Evaluation rows `question`, `answer` (None without answers), `input_ids` = `question⁇` unpadded.

    Args:
        tsv_file: question<TAB>answer lines or question-only lines.
        tokenizer: the character tokenizer.
        block_size: the model's context; question + answer + 2 must fit.
    """
    pairs = read_qa(tsv_file, tokenizer, block_size)
    return Dataset.from_dict(
        {
            "question": [q for q, _ in pairs],
            "answer": [a for _, a in pairs],
            "input_ids": [tokenizer.encode_chars(qa_prompt(q)) for q, _ in pairs],
        }
    )
