"""The `knowgpt` command line: the course's baseline line, one-line errors, evaluate, data validate.

Commands run in-process through `hf_knowgpt.cli.main` (fast); the check that real stderr holds
one line and no traceback runs the command in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.cli import main
from hf_knowgpt.data.readers import DataError

CS224N = Path(__file__).resolve().parents[2] / "shared" / "data" / "cs224n"
SNOWMAN = "\u2603"  # not a character of wiki.txt


@pytest.fixture(scope="module")
def course_data() -> Path:
    assert (CS224N / "wiki.txt").is_file(), f"the CS224N data is missing at {CS224N}"
    return CS224N


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, course_data) -> Path:
    """An untrained 1-layer vanilla KnowGPT with the course vocabulary, saved as a model folder."""
    folder = tmp_path_factory.mktemp("tiny_model")
    tokenizer = KnowGPTTokenizer.from_corpus(course_data / "wiki.txt")
    assert SNOWMAN not in tokenizer.get_vocab()
    torch.manual_seed(0)
    config = KnowGPTConfig(
        vocab_size=len(tokenizer), block_size=128, n_layer=1, n_head=2, n_embd=16
    )
    KnowGPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _malformed(tmp_path: Path) -> Path:
    """Line 2 separates question and place with spaces, like four lines of the original dev file."""
    return _write(
        tmp_path / "malformed.tsv",
        "Where was Ada Lovelace born?\tLondon\n"
        "Where was Alan Turing born?  London\n"
        "Where was Marie Curie born?\tWarsaw\n",
    )


def _one_error_line(err: str, command: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {lines}"
    assert "Traceback" not in err
    assert lines[0].startswith(f"knowgpt {command}: error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------------------- 1. baseline


def test_baseline_prints_the_course_line(course_data, hf_env, capsys):
    assert main(["baseline", "--eval_file", str(course_data / "birth_dev.tsv")]) == 0
    assert capsys.readouterr().out == "Correct: 25 out of 500: 5.0%\n"


# ---------------------------------------------------------------------------- 2. bad input


def test_malformed_tsv_names_file_and_line(tmp_path, hf_env, capsys):
    bad = _malformed(tmp_path)
    assert main(["baseline", "--eval_file", str(bad)]) == 1
    out, err = capsys.readouterr()
    line = _one_error_line(err, "baseline")
    assert f"{bad}:2:" in line and "tab" in line
    assert out == ""


def test_malformed_tsv_in_evaluate_writes_nothing(tmp_path, hf_env, tiny_model, capsys):
    bad, preds = _malformed(tmp_path), tmp_path / "preds.txt"
    args = ["--model_dir", str(tiny_model), "--eval_file", str(bad), "--output_file", str(preds)]
    assert main(["evaluate", *args]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_home", "malformed.tsv"]


def test_missing_file(tmp_path, hf_env, capsys):
    missing = tmp_path / "no_such.tsv"
    assert main(["baseline", "--eval_file", str(missing)]) == 1
    line = _one_error_line(capsys.readouterr().err, "baseline")
    assert str(missing) in line


def test_unknown_flag_to_pretrain(tmp_path, hf_env, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--output_dir", str(out), "--no_such_flag", "3"]) == 1
    line = _one_error_line(capsys.readouterr().err, "pretrain")
    assert "--no_such_flag" in line
    assert not out.exists()


def test_unknown_recipe(tmp_path, hf_env, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "--output_dir", str(out), "--recipe", "nope"]) == 1
    assert "nope" in _one_error_line(capsys.readouterr().err, "pretrain")
    assert not out.exists()


def test_checkpoint_of_another_variant(tmp_path, hf_env, tiny_model, capsys, reset_accelerate):
    out = tmp_path / "finetune"
    argv = ["finetune", "--pretrained_model", str(tiny_model), "--attention_type", "synthesizer"]
    argv += ["--output_dir", str(out), "--report_to", "none", "--max_steps", "1"]
    assert main(argv) == 1
    line = _one_error_line(capsys.readouterr().err, "finetune")
    assert "vanilla" in line and "synthesizer" in line
    assert not any((out / name).exists() for name in ("model", "checkpoints", "run_info.json"))


def test_out_of_vocabulary_character_in_eval_file(tmp_path, hf_env, tiny_model, capsys):
    eval_file = _write(tmp_path / "oov.tsv", f"Where was Sn{SNOWMAN}w White born?\tLondon\n")
    preds = tmp_path / "preds.txt"
    args = ["--model_dir", str(tiny_model), "--eval_file", str(eval_file)]
    assert main(["evaluate", *args, "--output_file", str(preds)]) == 1
    line = _one_error_line(capsys.readouterr().err, "evaluate")
    assert f"{eval_file}:1:" in line and SNOWMAN in line
    assert not preds.exists() and not preds.with_name("preds.txt.jsonl").exists()


def test_debug_shows_the_exception(tmp_path, hf_env):
    bad = _malformed(tmp_path)
    with pytest.raises(DataError, match="malformed.tsv:2:"):
        main(["baseline", "--eval_file", str(bad), "--debug"])
    with pytest.raises(ValueError, match="no_such_flag"):
        main(["pretrain", "--output_dir", str(tmp_path / "run"), "--no_such_flag", "3", "--debug"])


@pytest.mark.slow
def test_real_stderr_is_one_line_without_traceback(tmp_path, hf_env, tiny_model):
    """The user's view: `knowgpt evaluate` on a malformed file, in a fresh interpreter."""
    bad = _malformed(tmp_path)
    args = ["--model_dir", str(tiny_model), "--eval_file", str(bad)]
    args += ["--output_file", str(tmp_path / "preds.txt")]
    proc = subprocess.run(
        [sys.executable, "-m", "hf_knowgpt.cli", "evaluate", *args],
        env=hf_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    line = _one_error_line(proc.stderr, "evaluate")
    assert f"{bad}:2:" in line
    assert not (tmp_path / "preds.txt").exists()


# ---------------------------------------------------------------------------- 3. evaluate


@pytest.mark.slow
def test_evaluate_questions_only_file(tmp_path, hf_env, tiny_model, course_data, capsys):
    questions = course_data / "birth_test_inputs.tsv"
    preds = tmp_path / "test_predictions.txt"
    argv = ["evaluate", "--model_dir", str(tiny_model), "--eval_file", str(questions)]
    assert main([*argv, "--output_file", str(preds), "--batch_size", "512"]) == 0
    out = capsys.readouterr().out
    assert "Correct" not in out  # no answers, no score line
    assert "437" in out
    text = preds.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 437  # one answer per line, nothing else
    assert "\t" not in text
    records = preds.with_name(preds.name + ".jsonl").read_text(encoding="utf-8").splitlines()
    asked = questions.read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["question"] for r in records] == asked
    # The plain file has each answer on its own line (a generated line break becomes a space).
    answers = [json.loads(r)["answer"].replace("\n", " ") for r in records]
    assert answers == text.split("\n")[:-1]


def test_evaluate_scores_a_predictions_file_made_elsewhere(tmp_path, course_data, capsys):
    dev = course_data / "birth_dev.tsv"
    places = [line.split("\t")[1] for line in dev.read_text(encoding="utf-8").splitlines()]
    # Right for the first 40 people, London for the rest: 40 + the Londoners among the rest.
    predictions = places[:40] + ["London"] * (len(places) - 40)
    expected = 40 + places[40:].count("London")
    preds = _write(tmp_path / "preds.txt", "".join(p + "\n" for p in predictions))
    score = tmp_path / "out" / "score.json"
    argv = ["evaluate", "--predictions_file", str(preds), "--eval_file", str(dev)]
    assert main([*argv, "--score_file", str(score)]) == 0
    line = f"Correct: {expected} out of 500: {round(100 * expected / 500, 2)}%"
    assert capsys.readouterr().out.strip() == line
    record = json.loads(score.read_text(encoding="utf-8"))
    assert (record["correct"], record["total"], record["course_line"]) == (expected, 500, line)
    assert {"command", "git_commit", "date", "machine"} <= set(record["provenance"])

    short = _write(tmp_path / "short.txt", "London\n" * 499)
    argv = ["evaluate", "--predictions_file", str(short), "--eval_file", str(dev)]
    assert main([*argv, "--score_file", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(short) in err and "499 predictions" in err
    assert not (tmp_path / "bad.json").exists()  # nothing written for a failed score


def test_evaluate_needs_exactly_one_of_model_and_predictions(tmp_path, tiny_model, course_data):
    preds = _write(tmp_path / "preds.txt", "London\n")
    for source in ([], ["--model_dir", str(tiny_model), "--predictions_file", str(preds)]):
        with pytest.raises(SystemExit) as e:
            main(["evaluate", *source, "--eval_file", str(course_data / "birth_dev.tsv")])
        assert e.value.code == 2


# ---------------------------------------------------------------------------- 4. data validate


def test_data_validate_course_directory(course_data, hf_env, capsys):
    assert main(["data", "validate", str(course_data)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("OK ") for line in out), out


def test_env_prints_what_a_bug_report_needs(capsys):
    import importlib.metadata

    import hf_knowgpt

    assert main(["env"]) == 0
    lines = dict(line[2:].split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["hf_knowgpt"] == hf_knowgpt.__version__
    for dist in (
        "torch",
        "transformers",
        "datasets",
        "accelerate",
        "evaluate",
        "huggingface_hub",
        "peft",
    ):
        assert lines[dist] == importlib.metadata.version(dist)
    assert lines["python"].count(".") == 2 and lines["device"] in {"cpu", "cuda"}
    assert int(lines["threads"]) >= 1 and "CPU cores" in lines["machine"]
