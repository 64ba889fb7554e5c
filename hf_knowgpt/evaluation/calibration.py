"""Is a confident answer a recalled answer? Selective accuracy, calibration and AUROC of confidences.

Every function takes parallel lists: `confidences` (the probability the model gave its answer, see
`evaluation.Prediction.confidence`) and `correct` (whether that answer was right). Ties between equal
confidences are broken by input order (a stable sort), so every result is deterministic.
ECE follows Guo et al. 2017, "On Calibration of Modern Neural Networks" (arXiv:1706.04599).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple

COVERAGES = (1.0, 0.5, 0.2)  # the report's accuracy-at-coverage points
N_BINS = 10


class ReliabilityBin(NamedTuple):
    """One equal-width confidence bin; `mean_confidence` and `accuracy` are None when it is empty."""

    mean_confidence: float | None
    accuracy: float | None
    count: int


def _check(confidences: Sequence[float], correct: Sequence[bool]) -> None:
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences for {len(correct)} correctness flags")
    if not confidences:
        raise ValueError("no predictions: confidences and correct are empty")
    bad = next((c for c in confidences if not 0.0 <= c <= 1.0), None)  # also catches NaN
    if bad is not None:
        raise ValueError(f"confidences must lie in [0, 1], got {bad!r}")


def _ranked(confidences: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    """(confidence, correct) pairs, most confident first; equal confidences keep input order."""
    _check(confidences, correct)
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    return [(float(confidences[i]), bool(correct[i])) for i in order]


def accuracy_coverage(
    confidences: Sequence[float], correct: Sequence[bool]
) -> list[tuple[float, float, float]]:
    """(coverage k/n, accuracy of the k most confident answers, confidence of the k-th) for k = 1..n."""
    ranked = _ranked(confidences, correct)
    n, hits, curve = len(ranked), 0, []
    for k, (confidence, ok) in enumerate(ranked, 1):
        hits += ok
        curve.append((k / n, hits / k, confidence))
    return curve


def n_covered(n: int, coverage: float) -> int:
    """How many of n answers a coverage keeps: ceil(coverage · n), at least 1."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must lie in (0, 1], got {coverage}")
    return max(1, math.ceil(coverage * n - 1e-9))  # the tolerance keeps 0.7 * 10 at 7, not 8


def accuracy_at_coverage(
    confidences: Sequence[float], correct: Sequence[bool], coverage: float
) -> float:
    """Accuracy on the ceil(coverage · n) most confident answers (coverage 1.0: plain accuracy)."""
    curve = accuracy_coverage(confidences, correct)
    return curve[n_covered(len(curve), coverage) - 1][1]


def threshold_at_coverage(
    confidences: Sequence[float], correct: Sequence[bool], coverage: float
) -> float:
    """Confidence of the least confident answer kept at `coverage`: a `min_confidence` for `abstain`.

    With ties at that confidence, abstaining at this threshold answers the tied answers as well.
    """
    curve = accuracy_coverage(confidences, correct)
    return curve[n_covered(len(curve), coverage) - 1][2]


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> list[ReliabilityBin]:
    """Per equal-width bin of [0, 1] (the last one closed): mean confidence, accuracy and count."""
    _check(confidences, correct)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for confidence, ok in zip(confidences, correct, strict=True):
        members[min(int(confidence * n_bins), n_bins - 1)].append((confidence, bool(ok)))
    bins = []
    for items in members:
        if not items:
            bins.append(ReliabilityBin(None, None, 0))
            continue
        mean = sum(c for c, _ in items) / len(items)
        bins.append(ReliabilityBin(mean, sum(ok for _, ok in items) / len(items), len(items)))
    return bins


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> float:
    """Σ_bins (count / n) · |accuracy − mean confidence| over equal-width bins: 0 is calibrated."""
    bins = reliability_bins(confidences, correct, n_bins)
    n = len(confidences)
    return sum(b.count / n * abs(b.accuracy - b.mean_confidence) for b in bins if b.count)


def auroc(confidences: Sequence[float], correct: Sequence[bool]) -> float | None:
    """P(a random correct answer is more confident than a random wrong one), ties counting ½.

    The Mann–Whitney U statistic over (#correct · #wrong); 1.0: confidence separates them perfectly,
    0.5: it tells nothing. None when either group is empty (the question has no answer then).
    """
    _check(confidences, correct)
    n_pos = sum(bool(ok) for ok in correct)
    n_neg = len(correct) - n_pos
    if not n_pos or not n_neg:
        return None
    order = sorted(range(len(confidences)), key=lambda i: confidences[i])
    rank_sum, start = 0.0, 0  # sum of the correct answers' ranks, ties sharing their mean rank
    while start < len(order):
        end = start
        while end < len(order) and confidences[order[end]] == confidences[order[start]]:
            end += 1
        mean_rank = (start + 1 + end) / 2  # ranks start+1 .. end
        rank_sum += mean_rank * sum(bool(correct[i]) for i in order[start:end])
        start = end
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def separation_auroc(high: Sequence[float], low: Sequence[float]) -> float | None:
    """AUROC of two confidence samples: P(a value of `high` exceeds one of `low`), ties ½."""
    return auroc(list(high) + list(low), [True] * len(high) + [False] * len(low))


# ---------------------------------------------------------------------------- the report's numbers


def split_by_correctness(
    confidences: Sequence[float], correct: Sequence[bool]
) -> tuple[list[float], list[float]]:
    """(confidences of the correct answers, of the wrong ones)."""
    pairs = list(zip(confidences, correct, strict=True))
    return [c for c, ok in pairs if ok], [c for c, ok in pairs if not ok]


def confidence_stats(values: Sequence[float]) -> dict:
    """{"n", "mean_confidence", "median_confidence"} of one group (None for an empty group)."""
    if not values:
        return {"n": 0, "mean_confidence": None, "median_confidence": None}
    mean, median = statistics.fmean(values), statistics.median(values)
    return {"n": len(values), "mean_confidence": mean, "median_confidence": median}


def coverage_point(confidences, correct, coverage: float, unseen=None) -> dict:
    """Accuracy and threshold at one coverage; which fraction of unseen answers passes it."""
    threshold = threshold_at_coverage(confidences, correct, coverage)
    passed = None if not unseen else sum(u >= threshold for u in unseen) / len(unseen)
    return {
        "coverage": coverage,
        "answered": n_covered(len(confidences), coverage),
        "accuracy": accuracy_at_coverage(confidences, correct, coverage),
        "threshold": threshold,
        "unseen_answered": passed,
    }


def summarize(
    confidences: Sequence[float], correct: Sequence[bool], unseen: Sequence[float] | None = None
) -> dict:
    """Accuracy at COVERAGES, ECE, reliability bins, AUROCs and group confidences in one dict.

    Args:
        confidences, correct: the dev answers.
        unseen: confidences of answers about people the model never saw (all made up), if any.
    """
    right, wrong = split_by_correctness(confidences, correct)
    groups = {"dev_correct": confidence_stats(right), "dev_wrong": confidence_stats(wrong)}
    if unseen is not None:
        groups["unseen"] = confidence_stats(unseen)
    bins = reliability_bins(confidences, correct, N_BINS)
    return {
        "n": len(confidences),
        "accuracy": sum(correct) / len(correct),
        "coverage": [coverage_point(confidences, correct, c, unseen) for c in COVERAGES],
        "ece": expected_calibration_error(confidences, correct, N_BINS),
        "reliability": [b._asdict() for b in bins],
        "auroc_correct_vs_wrong": auroc(confidences, correct),
        "auroc_dev_correct_vs_unseen": separation_auroc(right, unseen) if unseen else None,
        "groups": groups,
    }
