"""The small statistics the reports use: Wilson intervals, a one-sided Fisher exact test, and the one
way every table writes a share."""

from __future__ import annotations

import math


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % (z = 1.96) Wilson score interval of an accuracy: honest error bars for 40 questions."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    # The interval holds p; at 0 or all correct, rounding alone could put an end past it.
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def fisher_greater(correct_a: int, total_a: int, correct_b: int, total_b: int) -> float:
    """One-sided Fisher exact test: the chance that model A gets `correct_a` or more right if A and
    B were equally accurate (all correct answers equally likely to fall anywhere)."""
    right, n = correct_a + correct_b, total_a + total_b
    tail = sum(
        math.comb(right, k) * math.comb(n - right, total_a - k)
        for k in range(correct_a, min(right, total_a) + 1)
    )
    return tail / math.comb(n, total_a)


def percent(x: float | None) -> str:
    """A share as every table writes it: `16.6 %` (`n/a` when unknown)."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def share(r: dict) -> str:
    """`16.6 % (83/500)`, from a record with `accuracy`, `correct` and `total`."""
    return f"{percent(r['accuracy'])} ({r['correct']}/{r['total']})"


def interval(r: dict) -> str:
    """The 95 % Wilson interval of a record with `correct` and `total`: `13.6 %-20.1 %`."""
    low, high = wilson_interval(r["correct"], r["total"])
    return f"{percent(low)}-{percent(high)}"
