"""The storage probe: which biographies it reads, and that it agrees with greedy generation."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from tiny import memorised_model

from hf_knowgpt import KnowGPTTokenizer
from hf_knowgpt.evaluation.probe import (
    StorageCase,
    prompt_cases,
    storage_accuracy,
    storage_cases,
    stored,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

LEARNED = [
    ("Ada Lovelace", "London"),
    ("Bo Diddley", "McComb"),
    ("Carl Nielsen", "Odense"),
    ("Dora Maar", "Tours"),
]
UNSEEN = [("Emil Zola", "Aix"), ("Fela Kuti", "Abeokuta"), ("Gus Grissom", "Mitchell")]


def bio(name: str, place: str) -> str:
    return f"{name} was a painter born in {place} ."


def question(name: str) -> str:
    return f"Where was {name} born?"


@functools.cache
def _memorised():
    """A 2-layer model that has memorised the LEARNED biographies and never read the UNSEEN ones."""
    docs = [bio(n, p) for n, p in LEARNED + UNSEEN]
    tokenizer = KnowGPTTokenizer.from_corpus("".join(docs) + question(""))  # questions are read too
    model = memorised_model(
        tokenizer, docs[: len(LEARNED)], [0] * len(LEARNED), steps=150, block_size=48
    )
    return model, tokenizer, docs


def test_cases_cut_each_biography_before_the_birth_place():
    docs = [
        "Ada Lovelacey was born in Paris .",  # a longer name that starts with another
        "Ada Lovelace was born in London .",
        "Bo Diddley grew up in Chicago .",
        "Bo Li was born in Jinan .",  # a name shorter than the index key
        "Al was born in Rome .",
        "Carl Nielsen (born in a village near Odense, Denmark) was a composer .",
    ]
    pairs = [
        (question("Ada Lovelace"), "London"),
        (question("Ada Lovelacey"), "Paris"),
        (question("Bo Diddley"), "McComb"),  # the biography never names the place
        (question("Nobody Known"), "Rome"),  # no biography
        (question("Carl Nielsen"), "Odense"),
        ("Who was Ada Lovelace?", "London"),  # not a birth-place question
        (question("Bo Li"), "Jinan"),
        (question("Al"), "Rome"),
    ]
    cases = storage_cases(docs, pairs, block_size=128)
    assert cases == [
        StorageCase("Ada Lovelace", "Ada Lovelace was born in ", "London"),
        StorageCase("Ada Lovelacey", "Ada Lovelacey was born in ", "Paris"),
        StorageCase("Carl Nielsen", "Carl Nielsen (born in a village near ", "Odense"),
        StorageCase("Bo Li", "Bo Li was born in ", "Jinan"),
        StorageCase("Al", "Al was born in ", "Rome"),
    ]
    # The model must read the prefix and write the answer within its block.
    assert [c.name for c in storage_cases(docs, pairs, block_size=36)] == [
        "Ada Lovelace",
        "Ada Lovelacey",
        "Bo Li",
        "Al",
    ]


def test_cloze_cases_blank_the_place_out_of_the_visible_biography():
    """The span-corruption form: the first 7/8 of a block, the place replaced by ⁇, then ⁇."""
    docs = [
        "Ada Lovelace was born in London and died there .",
        "Carl Nielsen was a Danish composer and conductor, born in Odense .",
    ]
    pairs = [(question("Ada Lovelace"), "London"), (question("Carl Nielsen"), "Odense")]
    cases = storage_cases(docs, pairs, block_size=64, cloze=True)  # shows 56 characters
    assert cases == [
        StorageCase("Ada Lovelace", "Ada Lovelace was born in ⁇ and died there .⁇", "London")
    ]  # Odense ends at character 64, past the 56 the course shows
    long = storage_cases(docs, pairs, block_size=128, cloze=True)
    assert long[1] == StorageCase(
        "Carl Nielsen", "Carl Nielsen was a Danish composer and conductor, born in ⁇ .⁇", "Odense"
    )


def test_probe_agrees_with_greedy_generation_case_by_case():
    model, tokenizer, docs = _memorised()
    pairs = [(question(n), p) for n, p in LEARNED + UNSEEN]
    cases = storage_cases(docs, pairs, model.config.block_size)
    assert len(cases) == len(pairs)
    hits = stored(model, tokenizer, cases, batch_size=3)  # batches of unequal widths
    generated = []
    for case in cases:
        ids = torch.tensor([tokenizer.encode_chars(case.prefix)])
        out = model.generate(ids, max_new_tokens=len(case.answer), do_sample=False)
        generated.append(tokenizer.decode_chars(out[0, ids.shape[1] :].tolist()) == case.answer)
    assert hits == generated
    # Memorised people are stored, unseen ones cannot be (their places never occur in training).
    assert hits[: len(LEARNED)] == [True] * len(LEARNED)
    assert not any(hits[len(LEARNED) :])
    assert storage_accuracy(model, tokenizer, cases) == {
        "storage": len(LEARNED) / len(cases),
        "stored": len(LEARNED),
        "probed": len(cases),
    }


def test_prompt_cases_ask_every_person_in_the_same_words():
    model, tokenizer, docs = _memorised()
    pairs = [(question(n), p) for n, p in LEARNED + UNSEEN] + [("Who is Ada?", "London")]
    cases = prompt_cases(pairs, "{name} was a painter born in ", model.config.block_size)
    assert [c.prefix for c in cases] == [f"{n} was a painter born in " for n, _ in LEARNED + UNSEEN]
    # The biographies' own words: the memorised people answer, the unseen ones do not.
    assert stored(model, tokenizer, cases) == [True] * len(LEARNED) + [False] * len(UNSEEN)
    assert prompt_cases(pairs, "x" * 40 + "{name} born in ", 48) == []  # longer than the block
    with pytest.raises(ValueError, match="must contain"):
        prompt_cases(pairs, "born in ", 48)


def test_probe_restores_training_mode():
    model, tokenizer, docs = _memorised()
    cases = storage_cases(docs, [(question("Ada Lovelace"), "London")], model.config.block_size)
    model.train()
    try:
        stored(model, tokenizer, cases)
        assert model.training
    finally:
        model.eval()


def test_probe_command_prints_and_writes_json(tmp_path, capsys):
    from hf_knowgpt.cli import main

    model, tokenizer, docs = _memorised()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "wiki.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    pairs = LEARNED + UNSEEN
    (tmp_path / "dev.tsv").write_text(
        "".join(f"{question(n)}\t{p}\n" for n, p in pairs), encoding="utf-8"
    )
    flags = ["--model_dir", str(tmp_path), "--corpus_file", str(tmp_path / "wiki.txt")]
    out = tmp_path / "probe.json"
    assert (
        main(["probe", *flags, "--qa_file", str(tmp_path / "dev.tsv"), "--output_file", str(out)])
        == 0
    )
    assert f"Stored: {len(LEARNED)} out of {len(pairs)} probed" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["stored"] == len(LEARNED) and result["provenance"]["command"]

    # The same people asked in fixed words: no corpus needed, the prompt recorded.
    prompt = ["--prompt", "{name} was a painter born in ", "--output_file", str(out)]
    dev = ["--qa_file", str(tmp_path / "dev.tsv")]
    assert main(["probe", "--model_dir", str(tmp_path), *dev, *prompt]) == 0
    assert f"Stored: {len(LEARNED)} out of {len(pairs)} probed" in capsys.readouterr().out
    assert json.loads(out.read_text())["prompt"] == "{name} was a painter born in "
    with pytest.raises(SystemExit):  # neither a corpus nor a prompt
        main(["probe", "--model_dir", str(tmp_path), *dev])

    # Fill-in-the-blank: runs on the biographies and is recorded as such.
    assert main(["probe", *flags, *dev, "--cloze", "--output_file", str(out)]) == 0
    assert f"out of {len(pairs)} probed" in capsys.readouterr().out
    assert json.loads(out.read_text())["cloze"] is True
    with pytest.raises(SystemExit):  # a cloze probe reads the biographies, not a prompt
        main(["probe", "--model_dir", str(tmp_path), *dev, "--cloze", *prompt])
    capsys.readouterr()

    # A missing file: one line naming it, non-zero exit, no JSON written.
    out.unlink()
    missing = str(tmp_path / "nope.tsv")
    assert main(["probe", *flags, "--qa_file", missing, "--output_file", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.tsv" in err[0] and not out.exists()
