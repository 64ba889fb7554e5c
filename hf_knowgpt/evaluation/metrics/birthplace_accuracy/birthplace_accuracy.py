"""Birth-place accuracy: exact string match between predicted and true places (CS224N evaluation)."""

import datasets
import evaluate

_DESCRIPTION = """\
Exact-match accuracy of birth-place answers, as in the CS224N knowledge-pretraining experiment:
a prediction counts only if it equals the reference string exactly (case and spaces included).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted places (the text the model wrote before the next ⁇).
    references: list of true places, one per prediction.
Returns:
    accuracy: fraction of exact matches (0.0 to 1.0).
    correct: number of exact matches.
    total: number of predictions.
Examples:
    >>> metric = evaluate.load("hf_knowgpt/metrics/birthplace_accuracy")
    >>> metric.compute(predictions=["London", "Paris"], references=["London", "Rome"])
    {'accuracy': 0.5, 'correct': 1, 'total': 2}
"""

_CITATION = """\
@misc{cs224n-a5,
  title = {Self-Attention, Transformers, and Pretraining (CS224N assignment 5)},
  author = {{Stanford CS224N}},
  howpublished = {\\url{https://web.stanford.edu/class/cs224n/}}
}
"""


class BirthplaceAccuracy(evaluate.Metric):
    """Exact-match accuracy returning the fraction and the counts the course prints."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        total = len(references)
        correct = sum(p == r for p, r in zip(predictions, references, strict=True))
        return {"accuracy": correct / total if total else 0.0, "correct": correct, "total": total}
