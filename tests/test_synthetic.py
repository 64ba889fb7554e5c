"""Tests of the deterministic synthetic birth-place corpus (hf_knowgpt.data.synthetic)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import typing
from collections import Counter
from pathlib import Path

import pytest

from hf_knowgpt.data import synthetic
from hf_knowgpt.data.synthetic import FILES, VISIBLE_CHARS, generate

SMALL = {"n_people": 120, "n_train": 60, "n_dev": 30, "n_unseen": 20}
COMMITTED = Path(__file__).resolve().parents[1] / "hf_knowgpt" / "data" / "corpus"
QA = re.compile(r"^Where was ([A-Za-z' .-]+) born\?\t([A-Za-z .-]+)$")
PINNED = {"seed": 0, "n_people": 300, "n_train": 200, "n_dev": 50, "n_unseen": 20, "variants": 2}
PINNED_SHA256 = {
    "wiki": "e57188664fe093e3db91806c3ccdf7f482c8cfaa779b81e00e507f0315c22c01",
    "train": "8e96612fea7725bf27bd5c25ef0df3c51d0ea13547251cfd233225d010bd3576",
    "dev": "cbd7a584ed0f827560e56332a5b401aeca6d5c317cddd2836a4de80fb4de6528",
    "test": "11cc5a3644a321e51e597c61d64f72ad680e8578744abd62feff0b7310a56ae4",
    "unseen": "6a19952fd408c14efcc933b56b6adbb831ab6b09d8a6c3a32f11a1a206dc266a",
    "people": "95e427feae5e2892d9913c2509ebb6a2cea66e8b6490c1bf94ea78feb6af1140",
}
"""sha256 of generate(**PINNED, full_names=True) before the "alt" templates were added."""
DEFAULT_BIRTH_PHRASES = (
    "was born in", "was born on", "was born at", "a native of", "Born in", "-born",
    "'s birthplace was", "grew up in",
)  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small corpus written once for the read-only tests."""
    return generate(tmp_path_factory.mktemp("small"), seed=1, **SMALL)


@pytest.fixture(scope="module")
def alt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small corpus in the "alt" wording."""
    return generate(tmp_path_factory.mktemp("alt"), seed=1, templates="alt", **SMALL)


def _people(paths: dict[str, Path]) -> list[dict]:
    """The records of people.jsonl."""
    return [json.loads(line) for line in paths["people"].read_text("utf-8").splitlines()]


def _qa(path: Path) -> list[tuple[str, str]]:
    """(name, place) pairs of a question-answer file, checking the exact format."""
    pairs = []
    for line in path.read_text("utf-8").splitlines():
        assert line.count("\t") == 1, line
        match = QA.match(line)
        assert match, line
        pairs.append((match[1], match[2]))
    return pairs


def test_same_seed_gives_identical_bytes(tmp_path: Path, small: dict[str, Path]) -> None:
    again = generate(tmp_path, seed=1, **SMALL)
    assert set(again) == set(FILES)
    for role in FILES:
        assert again[role].read_bytes() == small[role].read_bytes(), role
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())  # no temp files


def test_different_seed_gives_different_files(tmp_path: Path, small: dict[str, Path]) -> None:
    other = generate(tmp_path, seed=2, **SMALL)
    for role in FILES:
        assert other[role].read_bytes() != small[role].read_bytes(), role


def test_counts_and_disjoint_splits(small: dict[str, Path]) -> None:
    train = {name for name, _ in _qa(small["train"])}
    dev = {name for name, _ in _qa(small["dev"])}
    unseen = {name for name, _ in _qa(small["unseen"])}
    test_lines = small["test"].read_text("utf-8").splitlines()
    assert all("\t" not in line and QA.match(line + "\tX") for line in test_lines)
    test = {line[len("Where was ") : -len(" born?")] for line in test_lines}
    assert (len(train), len(dev), len(test), len(unseen)) == (60, 30, 30, 20)
    assert not train & dev and not test & (train | dev) and not unseen & (train | dev | test)
    lines = small["wiki"].read_text("utf-8").splitlines()
    in_wiki = {p["name"] for p in _people(small) if p["split"] != "unseen"}
    assert len(lines) == len(in_wiki) == 120 and in_wiki == train | dev | test


def test_people_jsonl_matches_qa_files(small: dict[str, Path]) -> None:
    people = _people(small)
    by_split = {
        split: {(p["name"], p["birth_place"]) for p in people if p["split"] == split}
        for split in ("train", "dev", "test", "unseen")
    }
    for split in ("train", "dev", "unseen"):
        assert by_split[split] == set(_qa(small[split]))
    assert len(by_split["test"]) == 30
    assert len({p["name"] for p in people}) == len(people) == 140
    for p in people:
        assert set(p) == {"name", "birth_place", "country", "split", "line", "offset"}
        assert (p["offset"] is None) == (p["line"] is None) == (p["split"] == "unseen")


def test_unseen_people_do_not_occur_in_wiki(small: dict[str, Path]) -> None:
    wiki = small["wiki"].read_text("utf-8")
    for name, place in _qa(small["unseen"]):
        assert name not in wiki
        assert place in wiki  # an answer the model could in principle produce


def test_no_name_occurs_inside_another(small: dict[str, Path]) -> None:
    names = [p["name"] for p in _people(small)]
    for a in names:
        for b in names:
            assert a == b or a not in b, (a, b)


def test_every_tsv_character_occurs_in_wiki(small: dict[str, Path]) -> None:
    wiki_chars = set(small["wiki"].read_text("utf-8"))
    assert {"W", "?"} <= wiki_chars
    for role in ("train", "dev", "test", "unseen"):
        assert set(small[role].read_text("utf-8")) - {"\t"} <= wiki_chars, role
    assert not {"\u25a1", "\u2047", "\t", "\r"} & wiki_chars


def _check_lines(paths: dict[str, Path]) -> None:
    """Every line opens with its person's name, and people.jsonl's offset points at the place."""
    text = paths["wiki"].read_text("utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")
    lines = text.splitlines()
    people = [p for p in _people(paths) if p["split"] != "unseen"]
    assert [p["line"] for p in people] == list(range(len(lines)))
    for p in people:
        line, place, offset = lines[p["line"]], p["birth_place"], p["offset"]
        assert line.startswith(p["name"] + ". ")
        assert line[offset : offset + len(place)] == place
        assert line.count(place) == 1, line
    late = sum(p["offset"] >= VISIBLE_CHARS for p in people)
    early = sum(p["offset"] + len(p["birth_place"]) <= VISIBLE_CHARS for p in people)
    assert late + early == len(people)
    assert late == round(synthetic.LATE_SHARE * len(people))
    assert max(len(line) for line in lines) > 150


def test_lines_start_with_name_and_contain_birth_place(small: dict[str, Path]) -> None:
    _check_lines(small)


def test_answers_mix_cities_and_countries(small: dict[str, Path]) -> None:
    people = _people(small)
    countries = [p for p in people if p["birth_place"] == p["country"]]
    assert 0 < len(countries) < len(people) / 3


def test_name_parts_and_places_cannot_nest() -> None:
    parts = synthetic._FIRST_NAMES + synthetic._SURNAMES
    assert len(set(parts)) == len(parts)
    assert all(re.fullmatch(r"[A-Z][A-Za-z']*", part) for part in parts)
    for a in synthetic._SURNAMES:
        assert not any(b != a and b.startswith(a) for b in synthetic._SURNAMES), a
    places, weights = synthetic._place_table()
    names = [place for place, *_ in places]
    assert len(set(names)) == len(names) and abs(sum(weights) - 1) < 1e-9
    assert all(re.fullmatch(r"[A-Za-z ]+", name) for name in names)
    for a in names:
        assert not any(b != a and a in b for b in names), a
        assert not any(a in part for part in parts), a


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_people": 0}, "n_people"),
        ({"n_train": -1}, "n_train"),
        ({"n_dev": 2.5}, "n_dev"),
        ({"n_unseen": -3}, "n_unseen"),
        ({"seed": "0"}, "seed"),
        ({"n_train": 100, "n_dev": 30}, "n_train + n_dev"),
        ({"max_extras": 4}, "max_extras"),
        ({"late_share": 1.5}, "late_share"),
        ({"names": "famous"}, "names"),
        ({"n_people": 10**6, "n_train": 1, "n_dev": 1}, "n_people"),
    ],
)
def test_invalid_argument_raises_value_error_naming_it(
    tmp_path: Path, kwargs: dict, argument: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(argument)):
        generate(tmp_path / "out", **{**SMALL, **kwargs})
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wiki.txt").write_text("old\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(synthetic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        generate(tmp_path, n_people=10, n_train=5, n_dev=2, n_unseen=2)
    assert [p.name for p in tmp_path.iterdir()] == ["wiki.txt"]
    assert (tmp_path / "wiki.txt").read_text() == "old\n"


def test_main_writes_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    args = ["--out_dir", str(tmp_path), "--n_people", "30", "--n_train", "10", "--n_dev", "5"]
    with caplog.at_level(logging.INFO, logger=synthetic.__name__):
        paths = synthetic.main([*args, "--n_unseen", "4", "--seed", "3"])
    assert paths == {role: tmp_path / name for role, name in FILES.items()}
    assert len(paths["unseen"].read_text("utf-8").splitlines()) == 4
    assert "birth_unseen.tsv (4 lines" in caplog.text
    with pytest.raises(SystemExit):
        synthetic.main(["--out_dir", str(tmp_path), "--n_train", "5000"])


def test_committed_data_equals_fresh_generation(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    for role, name in FILES.items():
        committed = COMMITTED / name
        assert committed.is_file(), f"{committed} missing: run scripts/make_synthetic.py"
        assert committed.read_bytes() == fresh[role].read_bytes(), (
            f"{committed} differs from the generator: run "
            "python scripts/make_synthetic.py --out_dir hf_knowgpt/data/corpus"
        )
    assert sum(os.path.getsize(COMMITTED / name) for name in FILES.values()) < 1_000_000


def test_majority_answer_is_london_at_five_percent_in_every_split() -> None:
    people = _people({"people": COMMITTED / FILES["people"]})
    for split in ("train", "dev", "test", "unseen"):
        answers = Counter(p["birth_place"] for p in people if p["split"] == split)
        (top, count), (_, second) = answers.most_common(2)
        assert top == "London" and count / answers.total() == 0.05 and second < count, split


def test_variants_restate_each_person_and_leave_the_default_unchanged(tmp_path):
    plain = generate(tmp_path / "plain", n_people=60, n_train=20, n_dev=10, n_unseen=5, seed=3)
    aug = generate(
        tmp_path / "aug", n_people=60, n_train=20, n_dev=10, n_unseen=5, seed=3, variants=3
    )
    lines = aug["wiki"].read_text(encoding="utf-8").splitlines()
    assert lines[:60] == plain["wiki"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 180 and len(set(lines)) == 180
    for key in ("train", "dev", "test", "unseen", "people"):
        assert aug[key].read_bytes() == plain[key].read_bytes()
    people = [json.loads(line) for line in aug["people"].read_text(encoding="utf-8").splitlines()]
    for person in people[:60]:
        if person["split"] == "unseen":
            continue
        mine = [line for line in lines if line.startswith(person["name"] + ".")]
        assert len(mine) == 3 and all(person["birth_place"] in line for line in mine)
    with pytest.raises(ValueError, match="variants"):
        generate(tmp_path / "bad", n_people=10, n_train=2, n_dev=2, n_unseen=0, variants=0)


@pytest.mark.parametrize("templates", ["default", "alt"])
def test_full_names_replace_every_surname_mention(tmp_path, templates):
    kw = dict(
        n_people=60, n_train=20, n_dev=10, n_unseen=5, seed=3, variants=2, templates=templates
    )
    plain = generate(tmp_path / "plain", **kw)
    full = generate(tmp_path / "full", **kw, full_names=True)
    people = _people(full)
    # The same people and birth places (the lines' lengths then steer the splits' draws).
    assert [(p["name"], p["birth_place"]) for p in people[:60]] == [
        (p["name"], p["birth_place"]) for p in _people(plain)[:60]
    ]
    wiki = full["wiki"].read_text(encoding="utf-8").splitlines()
    plain_wiki = plain["wiki"].read_text(encoding="utf-8").splitlines()
    for person in people[:60]:
        name, surname = person["name"], person["name"].split()[-1]
        for lines in (wiki, plain_wiki):
            assert len([line for line in lines if line.startswith(name + ".")]) == 2
        for line in (line for line in wiki if line.startswith(name + ".")):
            sentences = line[len(name) + 2 :].split(" . ")
            # Each sentence that names the person names them in full.
            assert all(surname not in s.replace(name, "") for s in sentences), line
        first = wiki[person["line"]]
        assert first[person["offset"] :].startswith(person["birth_place"])
    assert wiki != plain_wiki


def test_default_templates_keep_the_pinned_bytes(tmp_path: Path) -> None:
    implicit = generate(tmp_path / "implicit", **PINNED, full_names=True)
    explicit = generate(tmp_path / "explicit", **PINNED, full_names=True, templates="default")
    for role in FILES:
        assert explicit[role].read_bytes() == implicit[role].read_bytes(), role
        assert hashlib.sha256(implicit[role].read_bytes()).hexdigest() == PINNED_SHA256[role], role


def test_alt_templates_are_deterministic_per_seed(tmp_path: Path, alt: dict[str, Path]) -> None:
    again = generate(tmp_path / "again", seed=1, templates="alt", **SMALL)
    for role in FILES:
        assert again[role].read_bytes() == alt[role].read_bytes(), role
    other = generate(tmp_path / "other", seed=2, templates="alt", **SMALL)
    assert other["wiki"].read_bytes() != alt["wiki"].read_bytes()


def test_alt_templates_restate_the_same_people_in_other_words(
    small: dict[str, Path], alt: dict[str, Path]
) -> None:
    in_wiki = slice(SMALL["n_people"])
    assert [(p["name"], p["birth_place"]) for p in _people(alt)[in_wiki]] == [
        (p["name"], p["birth_place"]) for p in _people(small)[in_wiki]
    ]
    assert not set(alt["wiki"].read_text("utf-8").splitlines()) & set(
        small["wiki"].read_text("utf-8").splitlines()
    )
    _check_lines(alt)


def test_alt_birth_sentences_share_no_default_phrasing(tmp_path: Path) -> None:
    default, alt = synthetic._TEMPLATE_SETS["default"], synthetic._TEMPLATE_SETS["alt"]
    for pool in ("early_birth", "any_birth", "intros", "extras", "activities"):
        assert not set(getattr(default, pool)) & set(getattr(alt, pool)), pool
    paths = generate(tmp_path, seed=4, templates="alt", full_names=True, variants=3, **SMALL)
    wiki = paths["wiki"].read_text("utf-8")
    found = [phrase for phrase in DEFAULT_BIRTH_PHRASES if phrase in wiki]
    assert not found
    default_wiki = generate(tmp_path / "default", seed=4, variants=3, **SMALL)["wiki"]
    assert all(phrase in default_wiki.read_text("utf-8") for phrase in DEFAULT_BIRTH_PHRASES)


def test_unknown_templates_raise_value_error_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="templates must be one of default, alt"):
        generate(tmp_path / "out", templates="fancy", **SMALL)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    assert set(synthetic._TEMPLATE_SETS) == set(typing.get_args(synthetic.TemplateName))


def test_main_passes_templates_and_full_names(tmp_path: Path) -> None:
    args = ["--n_people", "30", "--n_train", "10", "--n_dev", "5", "--n_unseen", "4"]
    cli = synthetic.main(["--out_dir", str(tmp_path / "cli"), *args, "--templates", "alt"])
    cli_full = synthetic.main(
        ["--out_dir", str(tmp_path / "full"), *args, "--templates", "alt", "--full_names"]
    )
    kw = {"n_people": 30, "n_train": 10, "n_dev": 5, "n_unseen": 4, "templates": "alt"}
    for paths, full_names in ((cli, False), (cli_full, True)):
        direct = generate(tmp_path / f"direct{full_names}", **kw, full_names=full_names)
        for role in FILES:
            assert paths[role].read_bytes() == direct[role].read_bytes(), role
    with pytest.raises(SystemExit):
        synthetic.main(["--out_dir", str(tmp_path / "bad"), "--templates", "fancy"])


def test_compact_biographies_hold_one_early_birth_sentence(tmp_path: Path) -> None:
    """max_extras=0 and late_share=0: each line is the name and one sentence, the place within
    VISIBLE_CHARS; the defaults give other sentences and late places."""
    compact = generate(tmp_path / "c", **{**SMALL, "variants": 2}, max_extras=0, late_share=0.0)
    lines = compact["wiki"].read_text(encoding="utf-8").splitlines()
    assert all(line.count(" .") == 1 for line in lines[1:])  # line 0 may hold the vocabulary's
    people = [json.loads(row) for row in compact["people"].read_text().splitlines()]
    seen = [p for p in people if p["line"] is not None]
    assert all(p["offset"] + len(p["birth_place"]) <= VISIBLE_CHARS for p in seen)
    default = generate(tmp_path / "d", **{**SMALL, "variants": 2})
    lines = default["wiki"].read_text(encoding="utf-8").splitlines()
    assert sum(line.count(" .") > 1 for line in lines) > len(lines) / 3


def test_unique_names_give_each_person_a_surname_of_their_own(tmp_path: Path) -> None:
    """names="unique": no two people (unseen ones included) share a surname, no name occurs inside
    another, the usual line and offset invariants hold, and the same seed gives the same bytes."""
    paths = generate(tmp_path / "u", **SMALL, names="unique")
    _check_lines(paths)
    people = _people(paths)
    surnames = [p["name"].split()[-1] for p in people]
    assert len(set(surnames)) == len(people) == 140
    for a in surnames:
        assert not any(b != a and b.startswith(a) for b in surnames), a
    names = [p["name"] for p in people]
    assert all(a == b or a not in b for a in names for b in names)
    again = generate(tmp_path / "v", **SMALL, names="unique")
    assert all(paths[k].read_bytes() == again[k].read_bytes() for k in paths)
    pool = _people(generate(tmp_path / "p", **SMALL))
    assert len({p["name"].split()[-1] for p in pool}) < 0.75 * len(pool)  # the pool shares them
