"""The released models in models/: listed in index.json, loadable without the package (Auto classes,
pipeline) with the package's answers, and asked through `knowgpt ask`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_knowgpt.cli import main
from hf_knowgpt.evaluation.answers import load_model, predict
from hf_knowgpt.hub.released import MODELS_DIR, read_index, resolve_model

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = read_index() if (MODELS_DIR / "index.json").is_file() else []


def test_models_are_released_and_indexed():
    assert {e["stage"] for e in ENTRIES} == {"pretrained", "finetuned"}, "no release in models/"
    for e in ENTRIES:
        folder = MODELS_DIR / e["name"]
        for name in ("model.safetensors", "config.json", "modeling_knowgpt.py", "configuration_knowgpt.py",
                     "tokenization_knowgpt.py", "vocab.json", "tokenizer_config.json", "README.md"):  # fmt: skip
            assert (folder / name).is_file(), folder / name
        assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pkl"))  # safetensors only
        config = json.loads((folder / "config.json").read_text())
        assert {"AutoConfig", "AutoModel", "AutoModelForCausalLM"} <= set(config["auto_map"])
        assert config["attention_type"] == e["attention_type"]
    size = sum(p.stat().st_size for p in MODELS_DIR.rglob("*") if p.is_file())
    assert size < 80e6, f"models/ holds {size / 1e6:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("name", [e["name"] for e in ENTRIES if e["stage"] == "finetuned"])
def test_released_folder_answers_like_the_package_without_it(name, cs224n_dir, tmp_path, hf_env):
    folder = MODELS_DIR / name
    questions = [
        line.split("\t")[0] for line in (cs224n_dir / "birth_dev.tsv").read_text().splitlines()[:24]
    ]
    qfile = tmp_path / "questions.txt"
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    model, tokenizer = load_model(folder)
    ours = [p.answer for p in predict(model, tokenizer, questions)]
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "remote_answers.py"), str(folder), str(qfile)],
                            env=hf_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.splitlines()[-1])
    assert theirs["generate"] == ours
    assert theirs["pipeline"] == ours


def test_ask_answers_with_a_confidence_by_default_from_the_best_release(capsys):
    best = max((e for e in ENTRIES if e["stage"] == "finetuned"), key=lambda e: e["dev_accuracy"])
    assert resolve_model(None) == MODELS_DIR / best["name"]
    assert main(["ask", "Where was Ada Lovelace born?", "Where was Alan Turing born?"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line, question in zip(
        lines, ["Where was Ada Lovelace born?", "Where was Alan Turing born?"], strict=True
    ):
        asked, answer, confidence = line.split("\t")
        assert asked == question and answer and 0 < float(confidence) <= 1
    assert main(["ask", "--min_confidence", "1.01", "Where was Ada Lovelace born?"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "<unknown>"


def test_ask_reads_stdin_and_names_bad_input_in_one_line(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("Where was Ada Lovelace born?\n\n"))
    assert main(["ask"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert main(["ask", "Where was Ada Lovelace born?", "Where was 李白 born?"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "question 2" in err[0] and "李" in err[0], err
    assert main(["ask", "--model", "no-such-model", "Where?"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-model" in err[0], err
