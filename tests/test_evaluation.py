"""Evaluation: the metric module, course formats, batched greedy answers with confidences, files."""

from __future__ import annotations

import functools
import json
import math

import evaluate
import pytest
import torch
from tiny import memorised_model

from hf_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer
from hf_knowgpt.evaluation.answers import (
    ABSTAIN,
    Prediction,
    continuation_probabilities,
    predict,
    write_predictions,
)
from hf_knowgpt.evaluation.scoring import (
    METRIC_PATH,
    course_line,
    evaluate_file,
    london_baseline,
    score,
)

PEOPLE = [
    ("Ada Lovelace", "London"),
    ("Bo Diddley", "Mississippi"),
    ("Carl Nielsen", "Odense"),
    ("Dora Maar", "Paris"),
    ("Emil Zola", "Paris"),
    ("Fela Kuti", "Abeokuta"),
    ("Gus Grissom", "Mitchell"),
    ("Hans Arp", "Strasbourg"),
]
STRANGERS = ["Ivo Andric", "Joan Miro", "Kurt Weill"]
VARIANTS = ["vanilla", "synthesizer", "perceiver"]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def question(name: str) -> str:
    return f"Where was {name} born?"


@functools.cache
def _train_tiny(attention_type: str, steps: int = 100):
    """A 2-layer model that has memorised the birth places of PEOPLE (question⁇place⁇ rows)."""
    text = "".join(question(n) + p for n, p in PEOPLE) + "".join(STRANGERS)
    tokenizer = KnowGPTTokenizer.from_corpus(text)
    texts = [question(n) + MASK_CHAR + p + MASK_CHAR for n, p in PEOPLE]
    firsts = [len(question(n)) for n, _ in PEOPLE]  # only ⁇place⁇ is learned
    model = memorised_model(tokenizer, texts, firsts, steps=steps, attention_type=attention_type)
    return model.eval(), tokenizer


@pytest.fixture(scope="module", params=VARIANTS)
def trained(request):
    return _train_tiny(request.param)


@pytest.fixture(scope="module")
def vanilla():
    return _train_tiny("vanilla")


def _questions():
    return [question(n) for n, _ in PEOPLE] + [question(n) for n in STRANGERS]


# ---------------------------------------------------------------------------- metric and formats


def test_metric_module_through_evaluate_load():
    metric = evaluate.load(str(METRIC_PATH))
    result = metric.compute(
        predictions=["London", "Paris", "paris", ""], references=["London", "Rome", "Paris", ""]
    )
    assert result == {"accuracy": 0.5, "correct": 2, "total": 4}
    metric.add_batch(predictions=["a"], references=["a"])
    metric.add_batch(predictions=["b", "c"], references=["x", "c"])
    assert metric.compute() == {"accuracy": 2 / 3, "correct": 2, "total": 3}
    assert score(["London", "Paris"], ["London", "Rome"]) == {
        "accuracy": 0.5,
        "correct": 1,
        "total": 2,
    }
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        score(["a", "b"], ["a"])


def test_course_line_format():
    assert course_line(25, 500) == "Correct: 25 out of 500: 5.0%"
    assert course_line(101, 500) == "Correct: 101 out of 500: 20.2%"
    assert course_line(0, 437) == "Correct: 0 out of 437: 0.0%"
    assert course_line(2, 60) == "Correct: 2 out of 60: 3.33%"  # no float noise


def test_london_baseline_on_dev(cs224n_dir):
    result = london_baseline(cs224n_dir / "birth_dev.tsv")
    assert (result["correct"], result["total"], result["accuracy"]) == (25, 500, 0.05)
    assert result["course_line"] == "Correct: 25 out of 500: 5.0%"


# ---------------------------------------------------------------------------- predictions


def test_trained_model_recalls_its_people(vanilla):
    model, tokenizer = vanilla
    predictions = predict(model, tokenizer, [question(n) for n, _ in PEOPLE])
    assert [p.answer for p in predictions] == [place for _, place in PEOPLE]
    assert all(p.confidence > 0.5 and p.alternatives == [] for p in predictions)


def test_batched_equals_one_by_one(trained):
    model, tokenizer = trained
    questions = _questions()
    batched = predict(model, tokenizer, questions, batch_size=4)
    for q, b in zip(questions, batched, strict=True):
        (single,) = predict(model, tokenizer, [q])
        assert (b.question, b.answer) == (single.question, single.answer)
        assert b.confidence == pytest.approx(single.confidence, rel=1e-4, abs=1e-6)


def test_confidence_is_the_probability_of_the_answer(trained):
    model, tokenizer = trained
    for p in predict(model, tokenizer, _questions()):
        prompt = tokenizer.encode_chars(p.question + MASK_CHAR)
        closed = len(p.answer) < min(32, model.config.block_size - len(prompt))
        continuation = tokenizer.encode_chars(p.answer + (MASK_CHAR if closed else ""))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + continuation])).logits[0]
        probs = torch.softmax(logits.double(), dim=-1)
        steps = [probs[len(prompt) - 1 + i, t] for i, t in enumerate(continuation)]
        assert p.confidence == pytest.approx(float(math.prod(steps)), abs=1e-5)


def test_max_new_tokens_without_closing_mark(vanilla):
    model, tokenizer = vanilla
    (p,) = predict(model, tokenizer, [question("Ada Lovelace")], max_new_tokens=3)
    assert p.answer == "Lon"  # the product runs over the 3 generated characters
    prompt = tokenizer.encode_chars(question("Ada Lovelace") + MASK_CHAR)
    (expected,) = continuation_probabilities(model, [prompt], [tokenizer.encode_chars("Lon")])
    assert p.confidence == pytest.approx(expected, abs=1e-5)


def test_abstention_answers_exactly_the_confident_questions(vanilla):
    model, tokenizer = vanilla
    questions = _questions()
    plain = predict(model, tokenizer, questions)
    confidences = sorted(p.confidence for p in plain)
    threshold = confidences[len(confidences) // 2]
    gated = predict(model, tokenizer, questions, min_confidence=threshold)
    for p, g in zip(plain, gated, strict=True):
        assert g.raw_answer == p.answer
        if p.confidence >= threshold:
            assert (g.answer, g.abstained) == (p.answer, False)
        else:
            assert (g.answer, g.abstained) == (ABSTAIN, True)
    assert 0 < sum(g.abstained for g in gated) < len(gated)


def test_beam_alternatives(trained):
    model, tokenizer = trained
    questions = [question("Ada Lovelace"), question("Joan Miro")]
    for p in predict(model, tokenizer, questions, num_alternatives=3):
        assert 1 <= len(p.alternatives) <= 3
        probs = [prob for _, prob in p.alternatives]
        assert probs == sorted(probs, reverse=True) and all(0 < x <= 1 for x in probs)
        assert len({a for a, _ in p.alternatives}) == len(p.alternatives)
        prompt = tokenizer.encode_chars(p.question + MASK_CHAR)
        for answer, prob in p.alternatives:
            (expected,) = continuation_probabilities(
                model, [prompt], [tokenizer.encode_chars(answer + MASK_CHAR)]
            )
            assert prob == pytest.approx(expected, abs=1e-6)
        # beam search finds at least the greedy answer's probability
        assert probs[0] >= p.confidence - 1e-6


def test_too_long_question_is_refused(vanilla):
    model, tokenizer = vanilla
    with pytest.raises(ValueError, match="question 2 has"):
        predict(model, tokenizer, ["Where?", "W" * 64])


# ---------------------------------------------------------------------------- files


def _write_tsv(path, rows):
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_file_scores_and_writes(vanilla, tmp_path):
    model, tokenizer = vanilla
    run_dir = tmp_path / "run"
    model.save_pretrained(run_dir / "model")
    tokenizer.save_pretrained(run_dir / "model")
    # A place it never learned, in its vocabulary (an answer outside it is an error, not a miss).
    rows = [(question(n), p) for n, p in PEOPLE[:6]] + [(question("Ivo Andric"), "Weill")]
    eval_file = _write_tsv(tmp_path / "dev.tsv", rows)
    out = tmp_path / "preds" / "dev.predictions"

    result = evaluate_file(run_dir, eval_file, out)  # a run dir is accepted like a model dir
    assert (result["correct"], result["total"], result["n_predictions"]) == (6, 7, 7)
    assert result["accuracy"] == pytest.approx(6 / 7)
    assert result["course_line"] == course_line(6, 7)
    assert result["seconds"] >= 0 and result["abstained"] == 0

    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and lines[:6] == [p for _, p in rows[:6]] and len(lines) == 8
    records = [json.loads(line) for line in out.with_name(out.name + ".jsonl").open()]
    assert [r["question"] for r in records] == [q for q, _ in rows]
    assert [r["correct"] for r in records] == [True] * 6 + [False]
    assert records[0].keys() >= {"answer", "raw_answer", "confidence", "alternatives", "reference"}
    assert list(tmp_path.glob("preds/.*")) == []  # no temporary files left behind

    same = evaluate_file(model, eval_file, tokenizer=tokenizer)
    assert same["correct"] == 6 and same["output_file"] is None


def test_questions_only_file_gets_predictions_and_no_score(vanilla, tmp_path):
    model, tokenizer = vanilla
    eval_file = tmp_path / "test_inputs.tsv"
    eval_file.write_text("".join(question(n) + "\n" for n, _ in PEOPLE[:5]), encoding="utf-8")
    out = tmp_path / "test.predictions"
    result = evaluate_file(model, eval_file, out, tokenizer=tokenizer, min_confidence=0.0)
    assert result["accuracy"] is None and result["course_line"] is None
    assert result["n_predictions"] == 5
    assert out.read_text(encoding="utf-8").splitlines() == [p for _, p in PEOPLE[:5]]
    records = [json.loads(line) for line in out.with_name(out.name + ".jsonl").open()]
    assert len(records) == 5 and all("reference" not in r for r in records)


def test_unreadable_question_names_its_line(vanilla, tmp_path):
    from hf_knowgpt.data.readers import DataError

    model, tokenizer = vanilla
    eval_file = tmp_path / "bad.tsv"
    eval_file.write_text("Where was Ada Lovelace born?\nWhere was Ωmega born?\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:2: character 'Ω' \(U\+03A9\) at column 11"):
        evaluate_file(model, eval_file, tokenizer=tokenizer)


def test_write_predictions_is_all_or_nothing(tmp_path):
    out = tmp_path / "dev.predictions"
    good = [Prediction("Where was A born?", "Paris", 0.5, "Paris", [("Paris", 0.5)], "Rome")]
    write_predictions(out, good)
    before = out.read_text(), out.with_name(out.name + ".jsonl").read_text()
    assert before[0] == "Paris\n" and json.loads(before[1])["correct"] is False

    bad = [Prediction("Where was B born?", "Rome", float("nan"), "Rome")]  # not valid JSON
    with pytest.raises(ValueError):
        write_predictions(out, good + bad)
    assert (out.read_text(), out.with_name(out.name + ".jsonl").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dev.predictions",
        "dev.predictions.jsonl",
    ]


def test_line_breaks_stay_inside_one_line(tmp_path):
    out = tmp_path / "p.txt"
    write_predictions(out, [Prediction("q", "a\nb", 0.1, "a\nb"), Prediction("r", PAD_CHAR, 0.1)])
    assert out.read_text(encoding="utf-8") == f"a b\n{PAD_CHAR}\n"
