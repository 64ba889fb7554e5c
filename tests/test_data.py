"""Data pipelines on the real CS224N files: span corruption, birth-place rows, collators, errors."""

from __future__ import annotations

import shutil
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hf_knowgpt.data.augment import augmented_documents, name_in_full, title
from hf_knowgpt.data.collators import PackedCollator, PaddedCollator, TrimmedCollator, count_targets
from hf_knowgpt.data.commands import main
from hf_knowgpt.data.formats import (
    QUESTION,
    QUESTION_FORMS,
    asked_name,
    question_forms,
    visible_chars,
)
from hf_knowgpt.data.objectives import salient_spans
from hf_knowgpt.data.pipelines import (
    birthplace_dataset,
    pretraining_dataset,
    prompts_dataset,
    set_epoch,
)
from hf_knowgpt.data.readers import DataError, read_corpus, read_qa
from hf_knowgpt.model.tokenization_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer

DATA_DIR = Path(__file__).parents[2] / "shared/data/cs224n"
BLOCK = 128


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="module")
def wiki(data_dir) -> list[str]:
    return read_corpus(data_dir / "wiki.txt")


@pytest.fixture(scope="module")
def tok(data_dir) -> KnowGPTTokenizer:
    return KnowGPTTokenizer.from_corpus(data_dir / "wiki.txt")


def decode_rows(tok, input_ids: torch.Tensor) -> list[str]:
    return [tok.decode_chars(row).rstrip(PAD_CHAR) for row in input_ids.tolist()]


def split_span(text: str) -> tuple[str, str, str]:
    """`prefix ⁇ suffix ⁇ masked` -> (prefix, masked, suffix)."""
    prefix, suffix, masked = text.split(MASK_CHAR)
    return prefix, masked, suffix


@pytest.fixture(scope="module")
def span_epochs(data_dir, tok) -> list[dict[str, torch.Tensor]]:
    """All 2,937 documents drawn in epochs 0 and 1 (5,874 span-corruption draws)."""
    dataset = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, seed=0)
    epochs = []
    for epoch in (0, 1):
        set_epoch(dataset, epoch)
        epochs.append(dataset[:])
    return epochs


# ---------------------------------------------------------------------------- span corruption


def test_span_rows_are_truncated_documents_rearranged(span_epochs, wiki, tok):
    lengths = []
    for batch in span_epochs:
        assert batch["input_ids"].shape == (len(wiki), BLOCK)
        assert batch["input_ids"].dtype == torch.int64
        for doc, text in zip(wiki, decode_rows(tok, batch["input_ids"]), strict=True):
            prefix, masked, suffix = split_span(text)
            length = len(prefix) + len(masked) + len(suffix)
            assert prefix + masked + suffix == doc[:length]
            assert 1 <= len(masked) <= max(1, length // 2)
            lengths.append(length)
    assert set(lengths) == set(range(4, int(BLOCK * 7 / 8) + 1))


def test_masked_span_mean_is_a_quarter(span_epochs, tok):
    fractions = []
    for batch in span_epochs:
        for text in decode_rows(tok, batch["input_ids"]):
            prefix, masked, suffix = split_span(text)
            fractions.append(len(masked) / (len(prefix) + len(masked) + len(suffix)))
    assert np.mean(fractions) == pytest.approx(0.25, abs=0.01)


def test_labels_are_inputs_with_pad_ignored(span_epochs):
    for batch in span_epochs:
        ids = batch["input_ids"]
        expected = torch.where(ids == 0, torch.full_like(ids, -100), ids)
        assert torch.equal(batch["labels"], expected)
        assert (ids[:, -1] == 0).all()  # L + 2 <= 114 < 128: every row ends in PAD


def test_epochs_differ_and_seed_reproduces(span_epochs, data_dir, tok):
    first, second = (batch["input_ids"] for batch in span_epochs)
    assert (first != second).any(dim=1).float().mean() > 0.95
    again = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, seed=0)
    assert torch.equal(again[:]["input_ids"], first)
    set_epoch(again, 1)
    assert torch.equal(again[:300]["input_ids"], second[:300])
    other_seed = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, seed=1)
    assert (other_seed[:300]["input_ids"] != first[:300]).any(dim=1).float().mean() > 0.95


def test_dataloader_workers_give_the_same_examples(tmp_path, wiki, tok):
    corpus = tmp_path / "same.txt"
    corpus.write_text("\n".join([wiki[1]] * 48) + "\n", encoding="utf-8")
    dataset = pretraining_dataset(corpus, tok, BLOCK, seed=3)

    def draw(num_workers: int, epoch: int) -> torch.Tensor:
        loader = DataLoader(
            dataset, batch_size=8, num_workers=num_workers, collate_fn=PaddedCollator()
        )
        set_epoch(loader, epoch)
        return torch.cat([batch["input_ids"] for batch in loader])

    serial = draw(0, 0)
    assert torch.equal(draw(2, 0), serial)
    # One document, 48 indices: each index must have its own random stream.
    assert len({tuple(row) for row in serial.tolist()}) >= 44
    assert (draw(2, 1) != serial).any(dim=1).float().mean() > 0.9


def test_salient_spans_are_runs_of_capitalised_words():
    text = (
        "Jacob Henry Studer (26 February 1840 Columbus, Ohio - 1904 Rio de Janeiro) was a printer ."
    )
    assert [text[b:e] for b, e in salient_spans(text)] == [
        "Jacob Henry Studer", "February", "Columbus", "Ohio", "Rio de Janeiro"
    ]  # fmt: skip
    assert salient_spans("born in the town of the river") == []
    text = "Émile Zola, of the Order of Merit"
    assert [text[b:e] for b, e in salient_spans(text)] == ["Émile Zola", "Order of Merit"]


@pytest.mark.parametrize("window", ["prefix", "random", "whole"])
def test_salient_span_masking_masks_whole_entities(data_dir, wiki, tok, window):
    """salient=1 masks, in the course's piece, a whole entity that the piece's edge does not cut and
    that occurs once in the piece, whenever there is one; salient=0 draws the course's examples."""
    dataset = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, window=window, salient=1.0)
    course = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, window=window)
    same_course = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, window=window, salient=0.0)
    assert torch.equal(same_course[:]["input_ids"], course[:]["input_ids"])
    entity_masked = 0
    for doc, text, plain in zip(
        wiki,
        decode_rows(tok, dataset[:]["input_ids"]),
        decode_rows(tok, course[:]["input_ids"]),
        strict=True,
    ):
        prefix, masked, suffix = split_span(text)
        piece = prefix + masked + suffix
        assert piece == "".join(split_span(plain)[:3])  # the course's piece, masked elsewhere
        if doc.count(piece) > 1:  # a short random piece: where it was cut is ambiguous
            continue
        start = doc.find(piece)
        assert doc[start : start + len(piece)] == piece
        whole = [
            piece[b:e]
            for b, e in salient_spans(piece)
            if (b > 0 or start == 0)  # an entity at an edge of the piece may go on past it
            and (e < len(piece) or start + e == len(doc))
            and piece.count(piece[b:e]) == 1
        ]
        if whole:
            assert masked in whole
            entity_masked += 1
        else:
            assert text == plain
    assert entity_masked / len(wiki) > 0.6


def test_salient_span_masking_needs_span_corruption(data_dir, tok):
    with pytest.raises(ValueError, match="objective='span'"):
        pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, objective="lm", salient=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, salient=1.5)


def test_random_window_reaches_past_the_prefix(data_dir, wiki, tok):
    dataset = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, window="random")
    starts = []
    for doc, text in zip(wiki, decode_rows(tok, dataset[:]["input_ids"]), strict=True):
        prefix, masked, suffix = split_span(text)
        piece = prefix + masked + suffix
        assert piece in doc and 4 <= len(piece) <= 112
        starts.append(doc.find(piece))
    assert max(starts) > 112 and np.mean([s == 0 for s in starts]) < 0.5


def test_whole_window_keeps_the_document_start_uncut(data_dir, wiki, tok):
    dataset = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, window="whole")
    for doc, text in zip(wiki, decode_rows(tok, dataset[:]["input_ids"]), strict=True):
        prefix, masked, suffix = split_span(text)
        assert prefix + masked + suffix == doc[: visible_chars(BLOCK)]


def test_lm_prefix_window_reads_the_document_start(data_dir, wiki, tok):
    dataset = pretraining_dataset(
        data_dir / "wiki.txt", tok, BLOCK, objective="lm", window="prefix"
    )
    texts = decode_rows(tok, dataset[:]["input_ids"])
    assert all(doc.startswith(text.rstrip(PAD_CHAR)) for doc, text in zip(wiki, texts, strict=True))
    assert all(
        len(text.rstrip(PAD_CHAR)) == min(len(doc), BLOCK)
        for doc, text in zip(wiki, texts, strict=True)
    )


def test_lm_objective_is_a_window_of_the_document(data_dir, wiki, tok):
    dataset = pretraining_dataset(
        data_dir / "wiki.txt", tok, BLOCK, objective="lm", window="random"
    )
    batch = dataset[:]
    ends = []
    for doc, text in zip(wiki, decode_rows(tok, batch["input_ids"]), strict=True):
        assert MASK_CHAR not in text and len(text) == min(len(doc), BLOCK) and text in doc
        ends.append(doc.find(text) + len(text))
    assert max(ends) > 400
    ids = batch["input_ids"]
    assert torch.equal(batch["labels"], torch.where(ids == 0, torch.full_like(ids, -100), ids))


def test_lm_stream_window_starts_documents_after_another_ones_tail(data_dir, wiki, tok):
    qa = f"Where was Khatchig Mouradian born?{MASK_CHAR}Lebanon{MASK_CHAR}"
    dataset = pretraining_dataset(
        data_dir / "wiki.txt", tok, BLOCK, objective="lm", window="stream", extra_documents=[qa]
    )
    shifts = []
    for epoch in range(3):
        set_epoch(dataset, epoch)
        texts = [t.rstrip(PAD_CHAR) for t in decode_rows(tok, dataset[:]["input_ids"])]
        for doc, text in zip(wiki, texts[:-1], strict=True):
            # lead + document start, cut to the block; the lead ends another document + " ".
            shift = next(k for k in range(BLOCK // 2 + 1) if doc.startswith(text[k:][: len(doc)]))
            lead = text[:shift]
            assert len(text) == min(shift + len(doc), BLOCK)
            if shift:
                assert lead[-1] == " " and any(d.endswith(lead[:-1]) for d in wiki)
            shifts.append(shift)
        assert texts[-1].endswith(qa) and len(texts[-1]) <= BLOCK  # a QA line stays whole
    assert 0 < np.mean(shifts) and max(shifts) == BLOCK // 2
    assert np.mean([s == 0 for s in shifts]) < 0.05
    with pytest.raises(ValueError, match="window must be one of"):
        pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, objective="lm", window="middle")


def test_extra_documents(data_dir, wiki, tok):
    qa = f"Where was Khatchig Mouradian born?{MASK_CHAR}Lebanon{MASK_CHAR}"
    dataset = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK, extra_documents=[qa, wiki[0]])
    assert len(dataset) == len(wiki) + 2
    row = dataset[len(wiki)]
    assert tok.decode_chars(row["input_ids"]) == qa + PAD_CHAR * (BLOCK - len(qa))
    assert row["labels"][: len(qa)].tolist() == tok.encode_chars(qa)
    assert (row["labels"][len(qa) :] == -100).all()
    prefix, masked, suffix = split_span(decode_rows(tok, dataset[len(wiki) + 1 :]["input_ids"])[0])
    assert wiki[0].startswith(prefix + masked + suffix)
    with pytest.raises(DataError, match=r"^extra_documents:2: pre-formatted line of 131"):
        pretraining_dataset(data_dir / "wiki.txt", tok, extra_documents=[qa, "x" * 130 + MASK_CHAR])


def test_set_epoch_needs_a_pretraining_transform(data_dir, tok):
    with pytest.raises(ValueError, match="pretraining_dataset"):
        set_epoch(birthplace_dataset(data_dir / "birth_dev.tsv", tok), 1)


# ---------------------------------------------------------------------------- birth places


def test_birthplace_rows(data_dir, tok):
    pairs = read_qa(data_dir / "birth_dev.tsv")
    dataset = birthplace_dataset(data_dir / "birth_dev.tsv", tok, BLOCK)
    assert len(dataset) == len(pairs) == 500
    for i in (0, 1, 250, 499):
        row, (question, place) = dataset[i], pairs[i]
        assert (row["question"], row["answer"]) == (question, place)
        text = question + MASK_CHAR + place + MASK_CHAR
        assert tok.decode_chars(row["input_ids"]) == text + PAD_CHAR * (BLOCK - len(text))
        labels = row["labels"].tolist()
        assert labels[: len(question)] == [-100] * len(question)
        assert labels[len(question) : len(text)] == tok.encode_chars(MASK_CHAR + place + MASK_CHAR)
        assert labels[len(text) :] == [-100] * (BLOCK - len(text))


def test_question_forms_phrase_each_train_pair_and_name_its_person(data_dir, tok):
    pairs = read_qa(data_dir / "birth_places_train.tsv")
    dataset = birthplace_dataset(
        data_dir / "birth_places_train.tsv", tok, BLOCK, forms=len(QUESTION_FORMS)
    )
    assert len(dataset) == len(QUESTION_FORMS) * len(pairs)
    rows = list(zip(dataset["question"], dataset["answer"], strict=True))
    for i in (0, 1, 1999):
        question, place = pairs[i]
        phrased = rows[len(QUESTION_FORMS) * i : len(QUESTION_FORMS) * (i + 1)]
        assert phrased[0] == (question, place)  # the course's question first
        assert len({q for q, _ in phrased}) == len(QUESTION_FORMS) and {a for _, a in phrased} == {
            place
        }
        assert {asked_name(q) for q, _ in phrased} == {QUESTION.fullmatch(question).group(1)}
    assert question_forms("Where was Ada Lovelace born?", 2) == [
        "Where was Ada Lovelace born?",
        "What is the birthplace of Ada Lovelace?",
    ]
    assert asked_name("Who was Ada Lovelace?") is None


def test_a_question_that_cannot_be_phrased_is_an_error_naming_its_line(tmp_path, tok):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("Where was Ada born?\tLondon\nWho was Ada?\tLondon\n", encoding="utf-8")
    assert len(birthplace_dataset(tsv, tok, BLOCK)) == 2  # as written, the file is fine
    with pytest.raises(
        DataError, match=r"train\.tsv:2: cannot rephrase the question: not of the form"
    ):
        birthplace_dataset(tsv, tok, BLOCK, forms=2)
    tsv.write_text(
        f"Where was {'A' * 90} born?\tLondon\n", encoding="utf-8"
    )  # fits; its phrasing not
    with pytest.raises(
        DataError, match=r"train\.tsv:1: a phrasing of .* does not fit block_size 128"
    ):
        birthplace_dataset(tsv, tok, BLOCK, forms=4)


def test_prompts(data_dir, tok):
    prompts = prompts_dataset(data_dir / "birth_test_inputs.tsv", tok, BLOCK)
    assert len(prompts) == 437 and prompts[0]["answer"] is None
    assert tok.decode_chars(prompts[0]["input_ids"]) == prompts[0]["question"] + MASK_CHAR
    dev = prompts_dataset(data_dir / "birth_dev.tsv", tok, BLOCK)
    assert dev[0]["answer"] == "Atlanta"
    assert tok.decode_chars(dev[0]["input_ids"]) == "Where was Bryan Dubreuiel born?" + MASK_CHAR
    with pytest.raises(
        DataError, match=r"tsv:1: expected .* no tab \(no line has one: a question-only"
    ):
        birthplace_dataset(data_dir / "birth_test_inputs.tsv", tok, BLOCK)


# ---------------------------------------------------------------------------- collators


@pytest.fixture(scope="module")
def mixed_rows(data_dir, tok) -> list[dict]:
    span = pretraining_dataset(data_dir / "wiki.txt", tok, BLOCK)
    qa = birthplace_dataset(data_dir / "birth_places_train.tsv", tok, BLOCK)
    return [span[i] for i in range(96)] + [qa[i] for i in range(64)]


def segments(batch: dict[str, torch.Tensor]):
    """(row, start, end) of every packed segment: a new one wherever position_ids is 0."""
    for r, pos in enumerate(batch["position_ids"].tolist()):
        starts = [t for t, p in enumerate(pos) if p == 0] + [len(pos)]
        for a, b in pairwise(starts):
            assert pos[a:b] == list(range(b - a))
            yield r, a, b


def strip_pad(row: list[int]) -> tuple[int, ...]:
    n = len(row)
    while n and row[n - 1] == 0:
        n -= 1
    return tuple(row[:n])


def target_pairs(ids: list[int], labels: list[int], start: int, end: int) -> list[tuple]:
    """(context, target) pairs the shifted loss trains on inside one example."""
    return [(tuple(ids[start:t]), labels[t]) for t in range(start + 1, end) if labels[t] != -100]


def test_packed_collator_keeps_examples_and_targets(mixed_rows):
    padded, packed = PaddedCollator()(mixed_rows), PackedCollator(BLOCK)(mixed_rows)
    assert set(packed) == {"input_ids", "labels", "position_ids"}
    assert packed["input_ids"].shape[1] == BLOCK and len(packed["input_ids"]) < len(mixed_rows) / 2
    ids, labels = packed["input_ids"].tolist(), packed["labels"].tolist()
    packed_examples, packed_pairs = [], []
    for r, a, b in segments(packed):
        assert labels[r][a] == -100
        if all(i == 0 for i in ids[r][a:b]):  # a row's PAD tail
            assert all(lab == -100 for lab in labels[r][a:b])
            continue
        packed_examples.append(tuple(ids[r][a:b]))
        packed_pairs += target_pairs(ids[r], labels[r], a, b)
    padded_ids, padded_labels = padded["input_ids"].tolist(), padded["labels"].tolist()
    examples = [strip_pad(row) for row in padded_ids]
    assert Counter(packed_examples) == Counter(examples)  # nothing split, nothing lost
    pairs = [
        p
        for i, lab in zip(padded_ids, padded_labels, strict=True)
        for p in target_pairs(i, lab, 0, BLOCK)
    ]
    assert Counter(packed_pairs) == Counter(pairs)
    assert count_targets(packed["labels"]) == count_targets(padded["labels"]) == len(pairs)
    first_labels = int((padded["labels"][:, 0] != -100).sum())
    assert (
        int((packed["labels"] != -100).sum())
        == int((padded["labels"] != -100).sum()) - first_labels
    )


def test_packed_collator_is_first_fit_longest_first():
    rows = [
        {"input_ids": [n] * n + [0] * (10 - n), "labels": [n] * n + [-100] * (10 - n)}
        for n in (3, 3, 7, 7)
    ]
    batch = PackedCollator(10)(rows)  # first fit in order would need three rows: 3+3, 7, 7
    assert batch["input_ids"].tolist() == [[7] * 7 + [3] * 3] * 2
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 6, 0, 1, 2]] * 2
    assert batch["labels"].tolist() == [[-100] + [7] * 6 + [-100, 3, 3]] * 2
    rows[0] = {"input_ids": [1] + [0] * 9, "labels": [1] + [-100] * 9}
    batch = PackedCollator(10)(rows)  # a row's PAD tail after its examples, whatever their order
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 6, 0, 1, 2]] + [
        [0, 1, 2, 3, 4, 5, 6, 0, 0, 1]
    ]
    with pytest.raises(ValueError, match="exceeds block_size"):
        PackedCollator(5)(rows)


def test_trimmed_collator(mixed_rows):
    padded, trimmed = PaddedCollator()(mixed_rows), TrimmedCollator()(mixed_rows)
    width = trimmed["input_ids"].shape[1]
    assert width < BLOCK and (padded["input_ids"][:, width:] == 0).all()
    assert (trimmed["input_ids"][:, -1] != 0).any()
    assert torch.equal(trimmed["labels"], padded["labels"][:, :width])
    assert count_targets(trimmed["labels"]) == count_targets(padded["labels"])


# ---------------------------------------------------------------------------- malformed files

QA_OK = "Where was Ada Lovelace born?\tLondon\n"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (
            QA_OK * 2 + "Where was Ada born?  London\n",
            3,
            'expected "question<TAB>answer" but found no tab (the separator looks like spaces); fix the separator',
        ),
        (QA_OK + "Where was Ada born?\tLondon\tUK\n", 2, "expected one tab but found 2"),
        (QA_OK + "\tLondon\n", 2, "empty question"),
        (QA_OK * 3 + "Where was Ada born?\t\n", 4, "empty answer"),
        (
            QA_OK + "Where was Ada born?\tLond\u2603n\n",
            2,
            "character '\u2603' (U+2603) at column 25 is not in the vocabulary",
        ),
        (
            QA_OK + "Where was Ada born?\t" + "L" * 80 + "\n",
            2,
            "example is 101 characters with the two \u2047 but block_size is 100",
        ),
        (
            "Where was Ada born?\nWhere was Bo born?\tParis\nWhere was Cy born?\n",
            2,
            "found a tab but most lines have none; remove the answer, or if",
        ),
        (
            QA_OK + "Where was Ada born?\n" + QA_OK,
            2,
            'expected "question<TAB>answer" but found no tab; fix',
        ),
        (
            QA_OK.encode() + b"Where was Ada born?\tS\xe9te\n",
            2,
            "not valid UTF-8 (byte 0xe9 at column 22)",
        ),
        ("", 1, "the file is empty"),
    ],
)
def test_malformed_qa_file(tmp_path, tok, content, line, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as error:
        read_qa(path, tok, block_size=100)
    assert str(error.value).startswith(f"{path}:{line}: {message}")
    assert (error.value.path, error.value.line) == (str(path), line)
    with pytest.raises(DataError) as error:
        birthplace_dataset(path, tok, block_size=100)
    # birthplace_dataset requires answers, so a mostly question-only file fails at line 1
    expected = f"{path}:1: " if "most lines have none" in message else f"{path}:{line}: {message}"
    assert str(error.value).startswith(expected)
    assert list(tmp_path.iterdir()) == [path]  # nothing written


def test_require_answers(data_dir):
    with pytest.raises(DataError, match=r"birth_test_inputs.tsv:1: expected \"question<TAB>"):
        read_qa(data_dir / "birth_test_inputs.tsv", require_answers=True)
    with pytest.raises(DataError, match="birth_dev.tsv:1: found a tab in a question-only file"):
        read_qa(data_dir / "birth_dev.tsv", require_answers=False)
    questions = read_qa(data_dir / "birth_test_inputs.tsv")
    assert len(questions) == 437 and all(a is None for _, a in questions)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"one.\n\ntwo.\n", 2, "blank line"),
        (b"one.\ntwo.\n   \n", 3, "blank line"),
        (b"\n", 1, "blank line"),
        (b"", 1, "the file is empty"),
        (b"one.\ntwo \xff.\n", 2, "not valid UTF-8 (byte 0xff at column 5)"),
    ],
)
def test_malformed_corpus(tmp_path, tok, content, line, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_corpus(path)
    assert str(error.value).startswith(f"{path}:{line}: {message}")
    with pytest.raises(DataError) as error:
        pretraining_dataset(path, tok)
    assert str(error.value).startswith(f"{path}:{line}: {message}")
    assert list(tmp_path.iterdir()) == [path]


def test_corpus_details(tmp_path, tok):
    path = tmp_path / "c.txt"
    path.write_text("one.\r\ntwo.", encoding="utf-8")  # CRLF and no final newline are fine
    assert read_corpus(path) == ["one.", "two."]
    path.write_text("one.\ntw\u2603.\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        pretraining_dataset(path, tok)
    assert str(error.value).startswith(f"{path}:2: character '\u2603' (U+2603) at column 3 is not")
    missing = tmp_path / "missing.txt"
    for reader in (read_corpus, read_qa):
        with pytest.raises(DataError) as error:
            reader(missing)
        assert str(error.value).startswith(f"{missing}: no such file")


# ---------------------------------------------------------------------------- command line


def test_cli_validate(tmp_path, data_dir, capsys):
    assert main(["validate", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("OK") for line in out)
    assert "2937 documents" in out[0] and "500 pairs" in out[2] and "437 questions" in out[3]
    for name in ("wiki.txt", "birth_places_train.tsv", "birth_test_inputs.tsv"):
        shutil.copy(data_dir / name, tmp_path / name)
    dev = (data_dir / "birth_dev.tsv").read_text(encoding="utf-8").split("\n")
    dev[2] = dev[2].replace("\t", " ")
    (tmp_path / "birth_dev.tsv").write_text("\n".join(dev), encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith(f"ERROR {tmp_path / 'birth_dev.tsv'}:3: expected")
    assert [line[:2] for line in out] == ["OK", "OK", "ER", "OK"]


def test_cli_examples(data_dir, capsys):
    assert main(["charcorruption", str(data_dir / "wiki.txt"), "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        out.count("example ") == 2 and out.count(MASK_CHAR) == 8
    )  # two in each input and labels line
    assert main(["namedata", str(data_dir / "birth_dev.tsv"), "--n", "1"]) == 0
    assert f"Atlanta{MASK_CHAR}" in capsys.readouterr().out


def test_title_is_the_name_before_the_first_sentence_even_with_initials():
    assert title("Paolo J. Bjornsson. Bjornsson was born in Busan .") == "Paolo J. Bjornsson"
    assert title("Khatchig Mouradian. Khatchig Mouradian is a journalist .") == "Khatchig Mouradian"
    assert title("no title sentence here") is None


def test_name_in_full_rewrites_every_mention_by_a_tail_of_the_name():
    doc = (
        "Lucy Toulmin Smith. Smith was born at Boston . Toulmin Smith's father, Lucy Toulmin Smith "
        "wrote, met Smithson and Fairbanks-Smith ."
    )
    assert name_in_full(doc) == (
        "Lucy Toulmin Smith. Lucy Toulmin Smith was born at Boston . Lucy Toulmin Smith's father, "
        "Lucy Toulmin Smith wrote, met Smithson and Fairbanks-Smith ."
    )
    for unchanged in ("Madonna. Madonna sang .", "no title. Smith was here ."):
        assert name_in_full(unchanged) == unchanged


@pytest.mark.parametrize("full_names", [False, True])
def test_augmented_copies_keep_the_title_first_and_every_sentence(full_names):
    doc = "Paolo J. Bjornsson. Bjornsson was born in Busan . He lived in Oslo . Bjornsson sang ."
    name = "Paolo J. Bjornsson" if full_names else "Bjornsson"
    sentences = {f"{name} was born in Busan .", "He lived in Oslo .", f"{name} sang ."}
    copies = augmented_documents([doc], copies=8, seed=0, full_names=full_names)
    assert len(copies) == 8 and len(set(copies)) > 1  # shuffled, not repeated
    for copy in copies:
        body = copy.removeprefix("Paolo J. Bjornsson. ")
        assert copy.startswith("Paolo J. Bjornsson. ")  # the initial does not end the title
        assert {s + " ." for s in body.removesuffix(" .").split(" . ")} == sentences
