"""Malformed input files through the `knowgpt` command: one line naming the file, nothing changed.

Each case is a TSV (the dev file) or a corpus (wiki.txt) of the tiny data directory, made bad one
way and run through every command that reads it, in-process: rc != 0, exactly one line on stderr
naming the file (for `data validate`: one ERROR line on stdout, the other files still checked), no
traceback, and the bad file (or link, or folder) exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from errors import one_error_line

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.cli import main
from hf_knowgpt.data.readers import vocabulary

SNOWMAN = "\u2603"  # in no file of the tiny data
TINY = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
        "--batch_size", "8", "--report_to", "none", "--threads", "1"]  # fmt: skip

pytestmark = pytest.mark.usefixtures("hf_env")


def _lines(text: str) -> tuple[str, str]:
    first, second = text.splitlines()[:2]
    return first, second


# (id, the bad file from the first two good lines (or a kind of path), what the error says)
TSV_CASES = [
    ("spaces for a tab", lambda a, b: f"{a}\n{b.replace(chr(9), '  ')}\n", ":2: expected"),
    ("three columns", lambda a, b: f"{a}\tUK\n{b}\n", ":1: expected one tab but found 2"),
    ("empty question", lambda a, b: f"{a}\n\t{b.split(chr(9))[1]}\n", ":2: empty question"),
    ("empty answer", lambda a, b: f"{a}\n{b.split(chr(9))[0]}\t\n", ":2: empty answer"),
    ("Latin-1 bytes", lambda a, b: f"{a}\n{b}\u00e3o\n".encode("latin-1"), ":2: not valid UTF-8"),
    ("a NUL", lambda a, b: f"{a}\n{b}\x00\n", ":2: a NUL character"),
    ("a lone CR", lambda a, b: f"{a}\r{b}\n", ":1: a carriage return"),
    ("CR-only line endings", lambda a, b: f"{a}\r{b}\r", ": uses CR-only line endings"),
    ("an empty file", lambda a, b: "", ":1: the file is empty"),
    ("an answer outside the vocabulary", lambda a, b: f"{a}\n{b}{SNOWMAN}\n",
     ":2: character '\u2603' (U+2603) at column"),
    ("a directory", "directory", ": is a directory"),
    ("a missing file", "missing", ": no such file"),
    ("a symbolic link loop", "loop", ": cannot be read (a symbolic link loop)"),
]  # fmt: skip
CORPUS_CASES = [
    ("a blank line", lambda a, b: f"{a}\n\n{b}\n", ":2: blank line"),
    ("Latin-1 bytes", lambda a, b: f"{a}\nRen\u00e9 {b}\n".encode("latin-1"), ":2: not valid UTF-8"),
    ("a NUL", lambda a, b: f"{a}\n{b}\x00\n", ":2: a NUL character"),
    ("a lone CR", lambda a, b: f"{a}\r{b}\n", ":1: a carriage return"),
    ("CR-only line endings", lambda a, b: f"{a}\r{b}\r", ": uses CR-only line endings"),
    ("an empty file", lambda a, b: b"", ":1: the file is empty"),
    ("a directory", "directory", ": is a directory"),
    ("a missing file", "missing", ": no such file"),
    ("a symbolic link loop", "loop", ": cannot be read (a symbolic link loop)"),
]  # fmt: skip


def _spoil(data: Path, name: str, bad) -> Path:
    """Replace `data/name` by the bad version; return its path."""
    path = data / name
    if isinstance(bad, str):
        path.unlink()
        if bad == "directory":
            path.mkdir()
        elif bad == "loop":
            os.symlink(name, path)  # a link to itself
        return path
    content = bad(*_lines(path.read_text(encoding="utf-8")))
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _state(path: Path):
    """What the path is, to check that nothing changed it."""
    if path.is_symlink():
        return "link", os.readlink(path)
    if path.is_dir():
        return "folder", sorted(os.listdir(path))
    return path.read_bytes() if path.exists() else None


@pytest.fixture
def data(tiny_data_dir, tmp_path) -> Path:
    """A copy of the tiny data directory (with the course's four files) to spoil."""
    copy = tmp_path / "data"
    shutil.copytree(tiny_data_dir, copy)
    questions = (copy / "birth_dev.tsv").read_text(encoding="utf-8").splitlines()
    (copy / "birth_test_inputs.tsv").write_text("".join(q.split("\t")[0] + "\n" for q in questions))
    return copy


@pytest.fixture(scope="module")
def model_dir(tiny_data_dir, tmp_path_factory) -> Path:
    """An untrained 1-layer model with the tiny data's vocabulary."""
    folder = tmp_path_factory.mktemp("model")
    tokenizer = vocabulary(tiny_data_dir / "wiki.txt", tiny_data_dir / "birth_places_train.tsv")
    torch.manual_seed(0)
    config = KnowGPTConfig(vocab_size=len(tokenizer), block_size=64, n_layer=1, n_head=2, n_embd=16)
    KnowGPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _validate_reports_only(path: Path, message: str, capsys) -> None:
    """`data validate` names the bad file in one ERROR line and still checks the other three."""
    assert main(["data", "validate", str(path.parent), "--block-size", "64"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and len(lines) == 4, lines
    assert [line for line in lines if not line.startswith("OK ")] == [
        next(line for line in lines if line.startswith(f"ERROR {path}{message}"))
    ]


@pytest.mark.parametrize("command", ["data validate", "baseline", "evaluate"])
@pytest.mark.parametrize(
    ("bad", "message"), [c[1:] for c in TSV_CASES], ids=[c[0] for c in TSV_CASES]
)
def test_a_bad_tsv(data, model_dir, tmp_path, command, bad, message, capsys):
    path = _spoil(data, "birth_dev.tsv", bad)
    before = _state(path)
    if command == "data validate":
        _validate_reports_only(path, message, capsys)
    else:
        preds = tmp_path / "out" / "preds.txt"
        model = ["--model_dir", str(model_dir), "--output_file", str(preds)]
        argv = [command, "--eval_file", str(path), *(model if command == "evaluate" else [])]
        assert main(argv) == 1
        assert f"{path}{message}" in one_error_line(capsys)
        assert not (tmp_path / "out").exists()
    assert _state(path) == before


@pytest.mark.parametrize("command", ["data validate", "pretrain"])
@pytest.mark.parametrize(
    ("bad", "message"), [c[1:] for c in CORPUS_CASES], ids=[c[0] for c in CORPUS_CASES]
)
def test_a_bad_corpus(data, tmp_path, command, bad, message, capsys, reset_accelerate):
    path = _spoil(data, "wiki.txt", bad)
    before = _state(path)
    if command == "data validate":
        _validate_reports_only(path, message, capsys)
    else:
        run = tmp_path / "run"
        argv = ["pretrain", "--data_dir", str(data), "--output_dir", str(run), "--max_steps", "1"]
        assert main([*argv, *TINY]) == 1
        assert f"{path}{message}" in one_error_line(capsys)
        assert sorted(p.name for p in run.iterdir()) == []
    assert _state(path) == before


def test_a_bom_is_no_character_of_any_file(data, model_dir, tmp_path, capsys):
    """A leading UTF-8 BOM is dropped from every file: the same vocabulary, results and checks."""
    with_bom = tmp_path / "bom"
    shutil.copytree(data, with_bom)
    for path in with_bom.iterdir():
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    outputs = []
    for folder in (data, with_bom):
        dev = str(folder / "birth_dev.tsv")
        assert main(["data", "validate", str(folder), "--block-size", "64"]) == 0
        assert main(["baseline", "--eval_file", dev]) == 0
        assert main(["evaluate", "--model_dir", str(model_dir), "--eval_file", dev]) == 0
        outputs.append(capsys.readouterr().out.replace(str(folder), "DATA"))
    assert outputs[0] == outputs[1] and "Correct:" in outputs[0]
    assert "\ufeff" not in vocabulary(with_bom / "wiki.txt").get_vocab()
    assert "\ufeff" not in KnowGPTTokenizer.from_corpus(with_bom / "wiki.txt").get_vocab()
