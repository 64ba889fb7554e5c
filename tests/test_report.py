"""Calibration numbers on hand-made inputs, abstention, and `knowgpt report` on a tiny run directory."""

from __future__ import annotations

import json

import matplotlib.image
import pytest
import torch
from tiny import memorised_model

from hf_knowgpt import MASK_CHAR, KnowGPTTokenizer
from hf_knowgpt.evaluation import calibration as cal
from hf_knowgpt.evaluation import report
from hf_knowgpt.evaluation.answers import ABSTAIN, Prediction, abstain, write_predictions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGES = [
    "training_curves.png",
    "accuracy_coverage.png",
    "reliability.png",
    "confidence_by_group.png",
]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# ---------------------------------------------------------------------------- calibration


def test_accuracy_coverage_known_curve():
    curve = cal.accuracy_coverage([0.6, 0.9, 0.5, 0.8, 0.7], [True, True, False, True, False])
    # sorted: 0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓, 0.5 ✗
    expected = [
        (0.2, 1.0, 0.9),
        (0.4, 1.0, 0.8),
        (0.6, 2 / 3, 0.7),
        (0.8, 0.75, 0.6),
        (1.0, 0.6, 0.5),
    ]
    assert [x for point in curve for x in point] == pytest.approx(sum(expected, ()))


def test_accuracy_coverage_structure():
    torch.manual_seed(0)
    confidences = torch.rand(50).tolist()
    correct = (torch.rand(50) < 0.4).tolist()
    curve = cal.accuracy_coverage(confidences, correct)
    assert len(curve) == 50
    assert [c for c, _, _ in curve] == pytest.approx([k / 50 for k in range(1, 51)])
    thresholds = [t for _, _, t in curve]
    assert thresholds == sorted(thresholds, reverse=True)
    assert curve[-1][1] == pytest.approx(sum(correct) / 50)
    for k, (_, accuracy, _) in enumerate(curve, 1):  # each point is a count over the top k
        assert accuracy * k == pytest.approx(round(accuracy * k))


def test_ties_keep_input_order():
    assert cal.accuracy_coverage([0.5, 0.5], [False, True])[0] == (0.5, 0.0, 0.5)
    assert cal.accuracy_coverage([0.5, 0.5], [True, False])[0] == (0.5, 1.0, 0.5)


def test_accuracy_at_coverage_perfectly_ordered():
    confidences = [1 - i / 10 for i in range(10)]
    correct = [True, True] + [False] * 8  # the two most confident answers are the right ones
    assert cal.accuracy_at_coverage(confidences, correct, 0.2) == 1.0
    assert cal.accuracy_at_coverage(confidences, correct, 0.5) == pytest.approx(0.4)
    assert cal.accuracy_at_coverage(confidences, correct, 1.0) == pytest.approx(0.2)
    assert cal.accuracy_at_coverage(confidences, correct, 0.25) == pytest.approx(2 / 3)  # ceil: 3
    assert cal.n_covered(10, 0.7) == 7  # not 8 from 0.7 * 10 = 7.000000000000001
    assert cal.n_covered(3, 0.01) == 1
    assert cal.threshold_at_coverage(confidences, correct, 0.2) == pytest.approx(0.9)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="coverage"):
            cal.accuracy_at_coverage(confidences, correct, bad)


def test_expected_calibration_error():
    calibrated = [0.25] * 4 + [0.75] * 4
    assert (
        cal.expected_calibration_error(calibrated, [True] + [False] * 3 + [True] * 3 + [False]) == 0
    )
    assert cal.expected_calibration_error([1.0] * 4, [True, False] * 2) == pytest.approx(0.5)
    # half the answers at 0.9 all wrong (gap 0.9), half at 0.1 all wrong (gap 0.1)
    assert cal.expected_calibration_error([0.9, 0.9, 0.1, 0.1], [False] * 4) == pytest.approx(0.5)


def test_reliability_bins():
    bins = cal.reliability_bins([0.0, 0.05, 1.0, 0.95, 0.5], [False, True, True, True, False], 10)
    assert len(bins) == 10
    assert bins[0] == (pytest.approx(0.025), 0.5, 2)
    assert bins[9] == (pytest.approx(0.975), 1.0, 2)  # 1.0 falls in the last, closed bin
    assert bins[5].count == 1 and bins[5].accuracy == 0.0
    assert bins[3] == (None, None, 0)
    assert sum(b.count for b in bins) == 5


def test_auroc_known_values():
    assert cal.auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert cal.auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert cal.auroc([0.5] * 4, [True, False, True, False]) == 0.5
    assert cal.auroc([0.9, 0.5, 0.4, 0.1], [True, False, True, False]) == 0.75
    assert cal.auroc([0.5, 0.5, 0.2], [True, False, False]) == 0.75  # a tie counts one half
    assert cal.auroc([0.3, 0.6], [True, True]) is None  # no wrong answer: undefined
    assert cal.separation_auroc([0.9, 0.8], [0.1, 0.8]) == 0.875  # 1 + 1 + 1 + ½ of 4


def test_bad_inputs():
    with pytest.raises(ValueError, match="confidences for"):
        cal.auroc([0.5], [True, False])
    with pytest.raises(ValueError, match="empty"):
        cal.accuracy_coverage([], [])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cal.expected_calibration_error([1.5], [True])


def test_abstain_answers_exactly_at_or_above_threshold():
    confidences = [0.2, 0.5, 0.8, 0.49999]
    preds = [Prediction(f"q{i}", f"a{i}", c, raw_answer=f"a{i}") for i, c in enumerate(confidences)]
    kept = abstain(preds, 0.5)
    assert [p.answer for p in kept] == [ABSTAIN, "a1", "a2", ABSTAIN]
    assert [p.abstained for p in kept] == [c < 0.5 for c in confidences]
    assert [p.answer for p in preds] == ["a0", "a1", "a2", "a3"]  # inputs untouched
    assert [p.answer for p in abstain(kept, 0.0)] == [
        "a0",
        "a1",
        "a2",
        "a3",
    ]  # raw answers back


def test_summarize_unseen_answered():
    summary = cal.summarize([0.9, 0.8, 0.3, 0.2], [True, True, False, False], unseen=[0.85, 0.1])
    at_50 = summary["coverage"][1]
    assert at_50 == {
        "coverage": 0.5,
        "answered": 2,
        "accuracy": 1.0,
        "threshold": 0.8,
        "unseen_answered": 0.5,
    }
    assert summary["auroc_correct_vs_wrong"] == 1.0
    assert summary["auroc_dev_correct_vs_unseen"] == 0.75
    assert summary["groups"]["unseen"] == {
        "n": 2,
        "mean_confidence": 0.475,
        "median_confidence": 0.475,
    }


# ---------------------------------------------------------------------------- report files

KNOWN = [("Ada Lovelace", "London"), ("Bo Diddley", "Memphis"), ("Carl Nielsen", "Odense")]
KNOWN += [("Dora Maar", "Paris"), ("Emil Zola", "Paris"), ("Fela Kuti", "Abeokuta")]
STRANGERS = [("Ivo Andric", "Travnik"), ("Joan Miro", "Barcelona"), ("Kurt Weill", "Dessau")]


def _q(name: str) -> str:
    return f"Where was {name} born?"


def _check_png(path):
    assert path.is_file() and path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert matplotlib.image.imread(path).ndim == 3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with a 2-layer model that memorised KNOWN, and a hand-written metrics.jsonl."""
    run = tmp_path_factory.mktemp("run")
    text = "".join(_q(n) + p for n, p in KNOWN + STRANGERS)
    tokenizer = KnowGPTTokenizer.from_corpus(text)
    texts = [_q(n) + MASK_CHAR + p + MASK_CHAR for n, p in KNOWN]
    model = memorised_model(tokenizer, texts, [len(_q(n)) for n, _ in KNOWN], steps=80)
    model.save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    records = [
        {
            "step": s,
            "epoch": s / 10,
            "loss": 3.0 / s,
            "lr": 1e-3 * (1 - s / 40),
            "tokens_per_s": 1000.0,
            "train_minutes": s / 20,
        }
        for s in (5, 10, 20, 30, 40)
    ]
    records.insert(3, {"step": 20, "train_minutes": 1.0, "dev_accuracy": 0.25, "eval_seconds": 0.1})
    records.append({"step": 40, "train_minutes": 2.0, "dev_accuracy": 0.5, "eval_seconds": 0.1})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "dev.tsv").write_text("".join(f"{_q(n)}\t{p}\n" for n, p in KNOWN[:4] + STRANGERS[:2]))
    (run / "unseen.tsv").write_text("".join(f"{_q(n)}\t{p}\n" for n, p in STRANGERS))
    return run


def test_report_end_to_end(run_dir):
    argv = [str(run_dir), "--eval_file", str(run_dir / "dev.tsv")]
    assert report.main([*argv, "--unseen_file", str(run_dir / "unseen.tsv")]) == 0
    out = run_dir / "report"
    for name in IMAGES:
        _check_png(out / name)
    numbers = json.loads((out / "report.json").read_text())
    dev = numbers["dev"]
    assert dev["n"] == 6 and [p["coverage"] for p in dev["coverage"]] == [1.0, 0.5, 0.2]
    assert [p["answered"] for p in dev["coverage"]] == [6, 3, 2]
    assert dev["accuracy"] == pytest.approx(4 / 6)  # the 4 memorised people, not the 2 strangers
    assert numbers["unseen"]["n"] == 3
    assert list(dev["groups"]) == ["dev_correct", "dev_wrong", "unseen"]
    assert [g["n"] for g in dev["groups"].values()] == [4, 2, 3]
    for key in ("auroc_correct_vs_wrong", "auroc_dev_correct_vs_unseen", "ece"):
        assert 0 <= dev[key] <= 1
    training = {"steps": 40, "train_minutes": 2.0, "final_loss": 0.075, "last_dev_accuracy": 0.5}
    assert numbers["training"] == {**training, "eval_records": 2}

    md = (out / "report.md").read_text()
    assert all(f"]({name})" in md for name in IMAGES)
    expected = ["accuracy 66.7 %", "calibration error", f"**{dev['ece']:.3f}**", "git_commit"]
    expected += [
        f"**{dev[k]:.3f}**" for k in ("auroc_correct_vs_wrong", "auroc_dev_correct_vs_unseen")
    ]
    expected += [f"| {100 * p['accuracy']:.1f} % | {p['threshold']:.3g} |" for p in dev["coverage"]]
    expected += [
        f"| {g['mean_confidence']:.3g} | {g['median_confidence']:.3g} |"
        for g in dev["groups"].values()
    ]
    for text in expected:
        assert text in md, text
    assert (out / "eval_predictions.txt.jsonl").is_file()
    assert (out / "unseen_predictions.txt.jsonl").is_file()


def test_report_reads_saved_predictions(tmp_path):
    """Without --eval_file the run's dev predictions are used; no model and no metrics needed."""
    preds = [
        Prediction(
            f"q{i}",
            ABSTAIN if c < 0.3 else "Paris",
            c,
            raw_answer="Paris",
            reference="Paris" if i % 2 else "Rome",
        )
        for i, c in enumerate([0.9, 0.8, 0.2, 0.1])
    ]
    write_predictions(tmp_path / "eval" / "dev_predictions.txt", preds)
    result = report.build_report(tmp_path, command=["knowgpt", "report", str(tmp_path)])
    # the greedy answer is scored even where the model abstained: q1 (0.8) and q3 (0.1) are right;
    # of the (right, wrong) pairs only (0.8, 0.2) is ordered: AUROC 1/4
    assert result["dev"]["accuracy"] == 0.5 and result["dev"]["auroc_correct_vs_wrong"] == 0.25
    assert result["training"] is None and "training_curves.png" not in result["images"]
    assert not (tmp_path / "report" / "training_curves.png").exists()
    assert "no training curves" in (tmp_path / "report" / "report.md").read_text()
    _check_png(tmp_path / "report" / "reliability.png")


def test_read_metrics_keeps_the_last_record_of_a_repeated_step(tmp_path):
    lines = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 2, "loss": 1.5}]
    lines.append({"step": 2, "dev_accuracy": 0.1})
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    train, evals = report.read_metrics(tmp_path / "metrics.jsonl")
    assert [r["loss"] for r in train] == [2.0, 1.5] and evals == [{"step": 2, "dev_accuracy": 0.1}]


def test_cli_errors_without_predictions(tmp_path, capsys):
    from hf_knowgpt.cli import main

    assert main(["report", str(tmp_path)]) == 1
    assert "pass --eval_file" in capsys.readouterr().err
    preds = [Prediction("q", "Paris", 0.5, raw_answer="Paris")]  # no reference: cannot be scored
    write_predictions(tmp_path / "eval" / "dev_predictions.txt", preds)
    assert main(["report", str(tmp_path)]) == 1
    assert "reference" in capsys.readouterr().err
