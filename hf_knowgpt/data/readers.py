"""Strict readers of the course's files: wiki.txt (one biography per line) and the birth-place TSVs.

Every malformed line is a `DataError` whose message starts with `path:line:` and says how to fix it.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ..model.tokenization_knowgpt import MASK_CHAR, KnowGPTTokenizer, OutOfVocabularyError


class DataError(ValueError):
    """A malformed data file; the message starts with `path:line:` and says how to fix it."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path, self.line = str(path), line
        super().__init__(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


def _line_and_column(buffer: str | bytes, at: int) -> tuple[int, int]:
    """1-based line and column of offset `at` in a text (or its bytes)."""
    newline = "\n" if isinstance(buffer, str) else b"\n"
    return buffer.count(newline, 0, at) + 1, at - buffer.rfind(newline, 0, at)


def _read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 file without the empty string after the final newline.

    The reading rule of every input file: a leading BOM is dropped and CRLF is a line end; a NUL,
    a lone carriage return or CR-only line ends are errors (they would become characters).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(
            path, None, "no such file; check the path (or the data directory)"
        ) from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a file; give the file's path") from None
    except OSError as e:
        reason = "a symbolic link loop" if e.errno == errno.ELOOP else e.strerror
        raise DataError(path, None, f"cannot be read ({reason}); give a readable file") from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line, column = _line_and_column(raw, e.start)
        raise DataError(
            path,
            line,
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {column}); "
            "re-save the file with UTF-8 encoding",
        ) from None
    if "\r" in text and "\n" not in text:
        raise DataError(path, None, "uses CR-only line endings (old Mac); convert them to LF")
    text = text.replace("\r\n", "\n")
    for char, what in (("\x00", "a NUL character"), ("\r", "a carriage return inside the line")):
        if (at := text.find(char)) >= 0:
            line, column = _line_and_column(text, at)
            raise DataError(
                path, line, f"{what} at column {column}; remove it (or re-save as UTF-8 text)"
            )
    lines = text.split("\n")
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
            "not in the vocabulary (the characters of the corpus and the train file); remove or "
            "replace it, or rebuild the tokenizer from files that contain it",
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
        hint = (
            " (no line has one: a question-only file, like birth_test_inputs.tsv, can be "
            "answered with knowgpt evaluate but not trained or scored on)"
        )
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


def vocabulary(
    corpus_file: str | os.PathLike, train_file: str | os.PathLike | None = None
) -> KnowGPTTokenizer:
    """A new model's vocabulary: PAD, MASK, the characters of its corpus and of the QA file it trains on.

    Only the train file adds characters: dev and test files are what is measured, so a character of
    theirs outside this vocabulary (an answer the model could never write) is an error where read.

    Args:
        corpus_file: the pretraining corpus (wiki.txt), read by `read_corpus`.
        train_file: the QA pairs the run trains on (finetuning, or pretraining mixing them in), or None.
    """
    lines = read_corpus(corpus_file)
    if train_file is not None:
        lines += [q + a for q, a in read_qa(train_file, require_answers=True)]
    return KnowGPTTokenizer.from_corpus("".join(line + "\n" for line in lines))  # "\n" as in a file


def data_dir_vocabulary(data_dir: str | os.PathLike) -> KnowGPTTokenizer | None:
    """`vocabulary` of a model trained on a course-layout data directory (None without a wiki.txt)."""
    corpus, train = Path(data_dir) / "wiki.txt", Path(data_dir) / "birth_places_train.tsv"
    if not corpus.is_file():
        return None
    return vocabulary(corpus, train if train.is_file() else None)
