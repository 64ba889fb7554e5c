"""Data of the CS224N birth-place experiment: strict readers, span corruption, finetuning examples.

Span corruption follows the course handout (Stanford CS224N, "Self-Attention, Transformers and
Pretraining"); the rule lives in `SpanCorruption.draw`. Rows carry `input_ids` and `labels` of
length block_size with labels ALIGNED to the inputs (the model shifts them; -100 is ignored).

Run `python -m hf_knowgpt.data charcorruption|namedata FILE` to look at examples and
`python -m hf_knowgpt.data validate DATA_DIR` to check a data directory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset

from .tokenization_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer, OutOfVocabularyError

PAD_ID, MASK_ID, IGNORE_INDEX = 0, 1, -100


class DataError(ValueError):
    """A malformed data file; the message starts with `path:line:` and says how to fix it."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path, self.line = str(path), line
        super().__init__(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


# ---------------------------------------------------------------------------- readers


def _read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 file without the empty string after the final newline (CRLF tolerated)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(
            path, None, "no such file; check the path (or the data directory)"
        ) from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a file; give the file's path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        raise DataError(
            path,
            raw.count(b"\n", 0, e.start) + 1,
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start - line_start + 1}); "
            "re-save the file with UTF-8 encoding",
        ) from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError(path, 1, "the file is empty; give a file with one example per line")
    return lines


def read_corpus(path: str | os.PathLike) -> list[str]:
    """One document per line; a blank line or an empty file is an error.

    Args:
        path: UTF-8 text file, one document per line (a missing final newline is fine).
    """
    lines = _read_lines(path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(path, number, "blank line; every line must be one document, delete it")
    return lines


def _encode_or_raise(tokenizer, text: str, path, number: int, column0: int = 0) -> list[int]:
    """`encode_chars`, turning an unknown character into a DataError with its 1-based column."""
    try:
        return tokenizer.encode_chars(text)
    except OutOfVocabularyError as e:
        raise DataError(
            path,
            number,
            f"character {e.char!r} (U+{ord(e.char):04X}) at column {column0 + e.position + 1} is "
            "not in the vocabulary (the characters of the pretraining corpus); remove or "
            "replace it, or rebuild the tokenizer from a corpus that contains it",
        ) from None


def _qa_mode(path, lines: list[str], require_answers: bool | None) -> bool:
    """Whether the file has answers; the minority kind of line in a mixed file is the error."""
    has_tab = [("\t" in line) for line in lines]
    answers = require_answers if require_answers is not None else 2 * sum(has_tab) >= len(lines)
    bad = next((i for i, t in enumerate(has_tab) if t != answers), None)
    if bad is None:
        return answers
    number, line = bad + 1, lines[bad]
    if not answers:
        if require_answers is False:
            raise DataError(path, number, "found a tab in a question-only file; remove the answer")
        raise DataError(
            path,
            number,
            "found a tab but most lines have none; remove the answer, or if the file has "
            "answers, separate question and answer by a tab on every line",
        )
    if re.search(r"\?\s+\S", line):
        hint = " (the separator looks like spaces)"
    elif not any(has_tab):
        hint = " (no line has one: for a question-only file use prompts_dataset)"
    else:
        hint = ""
    raise DataError(
        path, number, f'expected "question<TAB>answer" but found no tab{hint}; fix the separator'
    )


def read_qa(
    path: str | os.PathLike,
    tokenizer: KnowGPTTokenizer | None = None,
    block_size: int | None = None,
    require_answers: bool | None = None,
) -> list[tuple[str, str | None]]:
    """Read `question<TAB>answer` lines (or question-only lines) with strict validation.

    Args:
        path: UTF-8 file; `Where was NAME born?<TAB>PLACE` per line, or one question per line.
        tokenizer: if given, every character must be in its vocabulary.
        block_size: if given, `len(question) + len(answer) + 2` (the two ⁇) must fit in it.
        require_answers: True: every line has an answer; False: no line has one;
            None: decided by the majority of lines, and every line must agree.
    """
    lines = _read_lines(path)
    has_answers = _qa_mode(path, lines, require_answers)
    pairs: list[tuple[str, str | None]] = []
    for number, line in enumerate(lines, 1):
        question, *rest = line.split("\t")
        if len(rest) > 1:
            raise DataError(
                path, number, f"expected one tab but found {len(rest)}; keep only the separator"
            )
        answer = rest[0] if has_answers else None
        if not question.strip():
            raise DataError(path, number, "empty question; write the question or delete the line")
        if has_answers and not answer.strip():
            raise DataError(path, number, "empty answer after the tab; write the answer")
        if tokenizer is not None:
            _encode_or_raise(tokenizer, question, path, number)
            if answer is not None:
                _encode_or_raise(tokenizer, answer, path, number, len(question) + 1)
        length = len(question) + len(answer or "") + 2
        if block_size is not None and length > block_size:
            raise DataError(
                path,
                number,
                f"example is {length} characters with the two {MASK_CHAR} but block_size is "
                f"{block_size}; shorten it or use a larger block_size",
            )
        pairs.append((question, answer))
    return pairs


# ---------------------------------------------------------------------------- pretraining


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
    the piece of length L anywhere in the document, so text past position 112 is seen too.
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
        if window not in ("prefix", "random"):
            raise ValueError(f"window must be 'prefix' or 'random', got {window!r}")
        if int(block_size * 7 / 8) < 4:
            raise ValueError(f"block_size must be at least 5 for span corruption, got {block_size}")
        if not 0.0 <= salient <= 1.0:
            raise ValueError(f"salient must be a share in [0, 1], got {salient!r}")
        self.window, self.salient = window, salient

    def draw(self, document: str, rng: np.random.Generator) -> str:
        length = min(
            len(document), int(rng.integers(4, int(self.block_size * 7 / 8), endpoint=True))
        )
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


# ---------------------------------------------------------------------------- finetuning


def _birthplace_rows(batch: dict[str, list], tokenizer, block_size: int) -> dict[str, list]:
    """`question ⁇ place ⁇ □…`; labels only on `⁇place⁇` (the question and PAD are -100)."""
    input_ids, labels = [], []
    for question, answer in zip(batch["question"], batch["answer"], strict=True):
        ids = tokenizer.encode_chars(question + MASK_CHAR + answer + MASK_CHAR)
        pad = block_size - len(ids)
        input_ids.append(ids + [PAD_ID] * pad)
        labels.append([IGNORE_INDEX] * len(question) + ids[len(question) :] + [IGNORE_INDEX] * pad)
    return {"input_ids": input_ids, "labels": labels}


def birthplace_dataset(
    tsv_file: str | os.PathLike, tokenizer: KnowGPTTokenizer, block_size: int = 128
) -> Dataset:
    """Finetuning rows `question`, `answer`, `input_ids`, `labels` (tensors of length block_size).

    Args:
        tsv_file: `Where was NAME born?<TAB>PLACE` lines (answers required; for question-only
            files use `prompts_dataset`).
        tokenizer: the character tokenizer.
        block_size: length of each row; longer examples are a DataError.
    """
    pairs = read_qa(tsv_file, tokenizer, block_size, require_answers=True)
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
            "input_ids": [tokenizer.encode_chars(q + MASK_CHAR) for q, _ in pairs],
        }
    )


# ---------------------------------------------------------------------------- command line


def _show(tokenizer, row) -> str:
    """Input without its PAD tail, and the labels with -100 shown as `·`."""
    ids, labels = [int(i) for i in row["input_ids"]], [int(i) for i in row["labels"]]
    text = tokenizer.decode_chars(ids).rstrip(PAD_CHAR)
    shown = "".join("·" if i == IGNORE_INDEX else tokenizer.decode_chars([i]) for i in labels)
    return (
        f"  input : {text!r} + {len(ids) - len(text)}×{PAD_CHAR}\n  labels: {shown.rstrip('·')!r}\n"
    )


def _validate(data_dir: Path, block_size: int) -> bool:
    """Print one line per file of a data directory; True when all are valid."""
    tokenizer, ok = None, True
    checks = {"birth_places_train.tsv": True, "birth_dev.tsv": True, "birth_test_inputs.tsv": False}
    for name, answers in {"wiki.txt": None, **checks}.items():
        path = data_dir / name
        try:
            if answers is None:
                docs = read_corpus(path)
                tokenizer = KnowGPTTokenizer.from_corpus("\n".join(docs))
                line = f"{len(docs)} documents, {tokenizer.vocab_size} vocabulary entries"
            else:
                pairs = read_qa(path, tokenizer, block_size, require_answers=answers)
                line = f"{len(pairs)} {'pairs' if answers else 'questions'}"
            sys.stdout.write(f"OK    {path}: {line}\n")
        except DataError as e:
            ok = False
            sys.stdout.write(f"ERROR {e}\n")
    return ok


def main(argv: list[str] | None = None) -> int:
    """`charcorruption|namedata FILE [--n 5]` shows examples; `validate DATA_DIR` checks files."""
    parser = argparse.ArgumentParser(prog="python -m hf_knowgpt.data", description=main.__doc__)
    parser.add_argument("command", choices=["charcorruption", "namedata", "validate"])
    parser.add_argument("path", type=Path, help="corpus or TSV file, or the data directory")
    parser.add_argument("--n", type=int, default=5, help="examples to show")
    parser.add_argument(
        "--corpus", type=Path, help="vocabulary corpus for namedata (default: wiki.txt beside FILE)"
    )
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objective", choices=["span", "lm"], default="span")
    parser.add_argument("--window", choices=list(NextCharLM.WINDOWS), default="prefix")
    parser.add_argument(
        "--salient", type=float, default=0.0, help="share of spans that are whole named entities"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return 0 if _validate(args.path, args.block_size) else 1
        if args.command == "charcorruption":
            tokenizer = KnowGPTTokenizer.from_corpus("\n".join(read_corpus(args.path)))
            dataset = pretraining_dataset(
                args.path,
                tokenizer,
                args.block_size,
                args.seed,
                args.objective,
                args.window,
                salient=args.salient,
            )
        else:
            corpus = args.corpus or args.path.with_name("wiki.txt")
            tokenizer = KnowGPTTokenizer.from_corpus(corpus if corpus.is_file() else args.path)
            dataset = birthplace_dataset(args.path, tokenizer, args.block_size)
        for i in range(min(args.n, len(dataset))):
            sys.stdout.write(f"example {i} (line {i + 1})\n{_show(tokenizer, dataset[i])}")
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
