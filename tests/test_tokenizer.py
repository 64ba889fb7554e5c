"""Character tokenizer on the real corpus: vocabulary layout, round trips, save/load, OOV errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from hf_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer, OutOfVocabularyError
from hf_knowgpt.cli import main
from hf_knowgpt.data.readers import data_dir_vocabulary, vocabulary

OOV = "\u2603"  # ☃, not in wiki.txt


@pytest.fixture(scope="module")
def wiki_text(cs224n_dir: Path) -> str:
    return (cs224n_dir / "wiki.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tok(cs224n_dir: Path) -> KnowGPTTokenizer:
    return KnowGPTTokenizer.from_corpus(cs224n_dir / "wiki.txt")


def test_vocabulary_is_pad_mask_then_sorted_corpus_chars(tok, wiki_text):
    chars = sorted(set(wiki_text))
    assert len(chars) == 254
    assert PAD_CHAR not in chars and MASK_CHAR not in chars
    assert len(tok) == tok.vocab_size == 256
    assert tok.get_vocab() == {PAD_CHAR: 0, MASK_CHAR: 1, **{c: i + 2 for i, c in enumerate(chars)}}
    assert (tok.pad_token, tok.pad_token_id) == (PAD_CHAR, 0)
    assert (tok.mask_token, tok.mask_token_id) == (MASK_CHAR, 1)
    assert tok.padding_side == "left"


def test_from_corpus_accepts_str_path_and_text(cs224n_dir, tok):
    assert KnowGPTTokenizer.from_corpus(str(cs224n_dir / "wiki.txt")).get_vocab() == tok.get_vocab()
    small = KnowGPTTokenizer.from_corpus("hello world")
    assert small.get_vocab() == {
        PAD_CHAR: 0,
        MASK_CHAR: 1,
        **{c: i + 2 for i, c in enumerate(" dehlorw")},
    }
    assert small.decode_chars(small.encode_chars("hello world")) == "hello world"


def test_encode_decode_chars_round_trip_whole_corpus(tok, wiki_text):
    ids = tok.encode_chars(wiki_text)
    assert len(ids) == len(wiki_text)
    assert min(ids) >= 2  # the corpus itself holds no PAD/MASK
    assert tok.decode_chars(ids) == wiki_text


def test_hf_call_and_decode_round_trip(tok, wiki_text):
    lines = wiki_text.splitlines()[:300]
    enc = tok(lines)
    for line, ids, mask in zip(lines, enc["input_ids"], enc["attention_mask"], strict=True):
        assert ids == tok.encode_chars(line)  # one id per character, no BOS/EOS added
        assert mask == [1] * len(line)
        assert tok.decode(ids) == line
    assert tok.batch_decode(enc["input_ids"]) == lines


def test_special_characters_map_to_pad_and_mask(tok):
    text = f"ab{MASK_CHAR}c{PAD_CHAR}"
    ids = tok(text)["input_ids"]
    assert ids == tok.encode_chars(text)
    assert ids[2] == 1 and ids[4] == 0
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == "abc"


def test_left_padding(tok):
    enc = tok(["abc", "a"], padding=True)
    assert enc["input_ids"][1] == [0, 0] + tok.encode_chars("a")
    assert enc["attention_mask"] == [[1, 1, 1], [0, 0, 1]]


def test_save_and_load_keep_vocabulary(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.json").is_file()
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["auto_map"]["AutoTokenizer"][0] == "tokenization_knowgpt.KnowGPTTokenizer"
    for loaded in (
        KnowGPTTokenizer.from_pretrained(tmp_path),
        AutoTokenizer.from_pretrained(tmp_path),
    ):
        assert isinstance(loaded, KnowGPTTokenizer)
        assert loaded.get_vocab() == tok.get_vocab()
        assert (loaded.pad_token_id, loaded.mask_token_id, len(loaded)) == (0, 1, 256)
        assert loaded.padding_side == "left"
        assert loaded("Where was he born?")["input_ids"] == tok.encode_chars("Where was he born?")


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda tok, text: tok(text), id="call"),
        pytest.param(lambda tok, text: tok(["fine", text]), id="call-batch"),
        pytest.param(lambda tok, text: tok.encode(text), id="encode"),
    ],
)
def test_out_of_vocabulary_via_hf_path(tok, encode):
    assert OOV not in tok.get_vocab()
    with pytest.raises(OutOfVocabularyError) as info:
        encode(tok, f"ab{OOV}c")
    assert isinstance(info.value, ValueError) and not isinstance(info.value, KeyError)
    assert info.value.char == OOV
    assert repr(OOV) in str(info.value) and "U+2603" in str(info.value)


def test_out_of_vocabulary_via_encode_chars_names_position(tok):
    with pytest.raises(OutOfVocabularyError) as info:
        tok.encode_chars(f"ab{OOV}c")
    assert isinstance(info.value, ValueError) and not isinstance(info.value, KeyError)
    assert (info.value.char, info.value.position) == (OOV, 2)
    assert repr(OOV) in str(info.value) and "at character 2" in str(info.value)


def test_the_course_vocabulary_is_the_same_with_the_train_files_characters(cs224n_dir, tok):
    """A new model's vocabulary is its corpus and its train file; the course's TSVs use only
    characters of wiki.txt, so it stays the 256 entries of wiki.txt."""
    with_train = vocabulary(cs224n_dir / "wiki.txt", cs224n_dir / "birth_places_train.tsv")
    assert with_train.get_vocab() == tok.get_vocab() and len(with_train) == 256
    assert data_dir_vocabulary(cs224n_dir).get_vocab() == tok.get_vocab()


def test_finetuning_from_scratch_can_write_every_place_of_its_train_file(
    tiny_data_dir, tmp_path, hf_env, reset_accelerate
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "wiki.txt").write_bytes((tiny_data_dir / "wiki.txt").read_bytes())
    train = (tiny_data_dir / "birth_places_train.tsv").read_text(encoding="utf-8")
    (data / "birth_places_train.tsv").write_text(train + f"Where was Sn{OOV}w born?\tZ{OOV}g\n")
    run = tmp_path / "run"
    argv = ["finetune", "--data_dir", str(data), "--output_dir", str(run), "--max_steps", "1",
            "--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
            "--batch_size", "8", "--report_to", "none", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    vocab = json.loads((run / "model" / "vocab.json").read_text(encoding="utf-8"))
    assert OOV in vocab and len(vocab) == len(KnowGPTTokenizer.from_corpus(data / "wiki.txt")) + 1
