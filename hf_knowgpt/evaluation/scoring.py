"""Scoring through the `evaluate` metric module (metrics/birthplace_accuracy), the course's score line,
the London baseline, and `evaluate_file` (answer a file, score it, write the predictions).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

import torch

from ..data.readers import DataError, _read_lines, read_qa
from .answers import load_model, predict, write_predictions

logger = logging.getLogger(__name__)

METRIC_PATH = Path(__file__).resolve().parent / "metrics" / "birthplace_accuracy"


@functools.cache
def _metric():
    import evaluate

    # In memory: no cache files, so concurrent evaluations cannot collide on a lock.
    return evaluate.load(str(METRIC_PATH), keep_in_memory=True)


def score(predictions: list[str], references: list[str]) -> dict:
    """Exact-match accuracy through the `birthplace_accuracy` metric: {"accuracy", "correct", "total"}."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("nothing to score: no references")
    return _metric().compute(predictions=list(predictions), references=list(references))


def score_file(predictions_file: str | os.PathLike, eval_file: str | os.PathLike) -> dict:
    """Score a predictions file made elsewhere (one answer per line, the course's format) against a
    question<TAB>place file, like the course's `evaluate_places`.

    Returns {"accuracy", "correct", "total", "course_line", "predictions_file", "eval_file"}.
    """

    references = [place for _, place in read_qa(eval_file, require_answers=True)]
    predictions = _read_lines(predictions_file)
    if len(predictions) != len(references):
        raise DataError(
            predictions_file,
            None,
            f"{len(predictions)} predictions for the {len(references)} questions of {eval_file}; "
            "give the predictions of this file, one per line",
        )
    result = score(predictions, references)
    return {
        **result,
        "course_line": course_line(result["correct"], result["total"]),
        "predictions_file": str(predictions_file),
        "eval_file": str(eval_file),
    }


def course_line(correct: int, total: int) -> str:
    """The line the course's scripts print, e.g. "Correct: 25 out of 500: 5.0%" (rounded to 2 decimals)."""
    return f"Correct: {correct} out of {total}: {round(100 * correct / total, 2)}%"


def london_baseline(tsv_file: str | os.PathLike, answer: str = "London", tokenizer=None) -> dict:
    """Accuracy of answering `answer` to every question of a question<TAB>place file.

    With a `tokenizer`, the file is checked against its vocabulary like a model's evaluation file.
    """

    references = [place for _, place in read_qa(tsv_file, tokenizer, require_answers=True)]
    result = score([answer] * len(references), references)
    return {
        **result,
        "answer": answer,
        "course_line": course_line(result["correct"], result["total"]),
    }


def evaluate_file(
    model_dir_or_model,
    eval_file: str | os.PathLike,
    output_file: str | os.PathLike | None = None,
    *,
    tokenizer=None,
    batch_size: int = 256,
    min_confidence: float | None = None,
    num_alternatives: int = 0,
    device: str | torch.device | None = None,
) -> dict:
    """Answer every question of a file, score them if it has answers, and write the predictions.

    Args:
        model_dir_or_model: a run directory, a model folder, or a loaded model (then pass `tokenizer`).
        eval_file: `question<TAB>place` lines (scored) or question-only lines (accuracy None).
        output_file: if given, the course's predictions file; `output_file + ".jsonl"` gets the details.
        tokenizer: the tokenizer of a loaded model (ignored for a folder).
        batch_size, min_confidence, num_alternatives, device: as in `predict`.

    Returns:
        {"accuracy", "correct", "total", "course_line", "n_predictions", "abstained", "seconds",
        "eval_file", "output_file"}; accuracy, correct, total and course_line are None without answers.
    """

    if isinstance(model_dir_or_model, (str, os.PathLike)):
        model, tokenizer = load_model(model_dir_or_model, device)
    elif tokenizer is None:
        raise TypeError("evaluate_file needs `tokenizer=` when given a loaded model")
    else:
        model = model_dir_or_model
    # The rule of every QA file: an answer the model could never write is an error, not a miss.
    rows = read_qa(eval_file, tokenizer, model.config.block_size)
    questions = [q for q, _ in rows]

    start = time.perf_counter()
    predictions = predict(
        model,
        tokenizer,
        questions,
        batch_size=batch_size,
        min_confidence=min_confidence,
        num_alternatives=num_alternatives,
        device=device,
    )
    seconds = time.perf_counter() - start
    for prediction, (_, reference) in zip(predictions, rows, strict=True):
        prediction.reference = reference

    result = {"accuracy": None, "correct": None, "total": None, "course_line": None}
    if rows and rows[0][1] is not None:
        result = score([p.answer for p in predictions], [r for _, r in rows])
        result["course_line"] = course_line(result["correct"], result["total"])
    if output_file is not None:
        write_predictions(output_file, predictions)
    logger.info("%s: %d predictions in %.1f s", eval_file, len(predictions), seconds)
    return {
        **result,
        "n_predictions": len(predictions),
        "abstained": sum(p.abstained for p in predictions),
        "seconds": round(seconds, 3),
        "eval_file": str(eval_file),
        "output_file": None if output_file is None else str(output_file),
    }
