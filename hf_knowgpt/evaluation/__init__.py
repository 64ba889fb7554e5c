"""Evaluation: answers (greedy, with confidences), scoring through `evaluate`, storage probes,
calibration, the demo's statistics, and the report."""

from .answers import (
    ABSTAIN,
    Prediction,
    continuation_probabilities,
    load_model,
    predict,
    write_predictions,
)
from .scoring import METRIC_PATH, course_line, evaluate_file, london_baseline, score, score_file
from .stats import fisher_greater, wilson_interval

__all__ = [
    "ABSTAIN",
    "METRIC_PATH",
    "Prediction",
    "continuation_probabilities",
    "course_line",
    "evaluate_file",
    "fisher_greater",
    "load_model",
    "london_baseline",
    "predict",
    "score",
    "score_file",
    "wilson_interval",
    "write_predictions",
]
