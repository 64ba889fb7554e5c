"""`knowgpt report RUN_DIR`: training curves, and can the confidence tell a recalled answer from a guess?

Writes into RUN_DIR/report/: training_curves.png, accuracy_coverage.png, reliability.png,
confidence_by_group.png, report.md and report.json. Questions about people the corpus never
mentions (`--unseen_file`) get answers that are necessarily made up: their confidences show what a
guess looks like. An answer counts as correct when the greedy answer (`raw_answer`) equals the
reference, whether or not the predictions were made with an abstention threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..evaluation import calibration as cal  # noqa: E402
from ..utils import atomic_write_json, atomic_write_text, provenance  # noqa: E402
from .answers import load_model
from .scoring import evaluate_file
from .stats import percent

DEV_PREDICTIONS = Path("eval") / "dev_predictions.txt.jsonl"

# ---------------------------------------------------------------------------- inputs


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """(training, evaluation) records of a metrics.jsonl by step; a resumed run's repeat wins."""
    train: dict[int, dict] = {}
    evals: dict[int, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            (evals if "dev_accuracy" in record else train)[record["step"]] = record
    return [train[s] for s in sorted(train)], [evals[s] for s in sorted(evals)]


def read_predictions(path: str | os.PathLike) -> list[dict]:
    """The records of a predictions .jsonl written by `evaluation.write_predictions`."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _answer(record: dict) -> str:
    """The model's greedy answer, also when the predictions were made with abstention."""
    return record.get("raw_answer") or record["answer"]


def _scored(records: list[dict], source) -> tuple[list[float], list[bool]]:
    """(confidences, greedy answer == reference) of prediction records with references."""
    if not records or any(r.get("reference") is None for r in records):
        raise ValueError(
            f"{source}: no predictions, or predictions without reference answers; "
            "pass --eval_file with question<TAB>place lines"
        )
    correct = [_answer(r) == r["reference"] for r in records]
    return [float(r["confidence"]) for r in records], correct


class _Predictor:
    """Answers question files with the run's model (loaded on first use) into report/."""

    def __init__(self, run_dir: Path, out: Path, batch_size: int):
        self.run_dir, self.out, self.batch_size, self.loaded = run_dir, out, batch_size, None

    def __call__(self, question_file: str | os.PathLike, name: str) -> list[dict]:

        self.loaded = self.loaded or load_model(self.run_dir)
        path = self.out / f"{name}_predictions.txt"
        model, tokenizer = self.loaded
        evaluate_file(model, question_file, path, tokenizer=tokenizer, batch_size=self.batch_size)
        return read_predictions(path.with_name(path.name + ".jsonl"))


def _dev_records(run_dir: Path, eval_file, predict: _Predictor) -> tuple[list[dict], str]:
    """Dev predictions: from --eval_file, else the run's saved ones, else its run_info eval_file."""
    if eval_file is None and (run_dir / DEV_PREDICTIONS).is_file():
        return read_predictions(run_dir / DEV_PREDICTIONS), str(run_dir / DEV_PREDICTIONS)
    if eval_file is None and (run_dir / "run_info.json").is_file():
        info = json.loads((run_dir / "run_info.json").read_text(encoding="utf-8"))
        eval_file = info.get("args", {}).get("data", {}).get("eval_file")
    if eval_file is None:
        raise FileNotFoundError(f"{run_dir}: no {DEV_PREDICTIONS} to report on; pass --eval_file")
    return predict(eval_file, "eval"), str(eval_file)


# ---------------------------------------------------------------------------- figures


def save_figure(fig, path: Path) -> None:
    """Save a figure atomically (a reader never sees half a PNG) and free it."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.tight_layout()  # cheaper than bbox_inches="tight", which draws the figure twice
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def plot_training_curves(train: list[dict], evals: list[dict], path: Path, title: str) -> None:
    """Loss, learning rate and dev accuracy against training minutes (top row) and step (bottom)."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7), squeeze=False)
    panels = [("loss", train, "training loss", 1), ("lr", train, "learning rate", 1)]
    panels.append(("dev_accuracy", evals, "dev accuracy (%)", 100))
    for row, (xkey, xlabel) in enumerate([("train_minutes", "training minutes"), ("step", "step")]):
        for ax, (ykey, records, ylabel, scale) in zip(axes[row], panels, strict=True):
            xs = [r[xkey] for r in records if r.get(xkey) is not None]
            ys = [scale * r[ykey] for r in records if r.get(xkey) is not None]
            if xs:
                ax.plot(xs, ys, marker="o" if scale == 100 else None)
            else:
                ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes)
            ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{ylabel} vs {xlabel}")
            ax.grid(alpha=0.3)
    fig.suptitle(f"Training curves: {title}")
    save_figure(fig, path)


def plot_accuracy_coverage(confidences, correct, dev: dict, path: Path) -> None:
    """Accuracy of the most confident answers against the fraction answered."""
    curve = cal.accuracy_coverage(confidences, correct)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot([100 * c for c, _, _ in curve], [100 * a for _, a, _ in curve], label="most confident")
    ax.axhline(100 * dev["accuracy"], ls="--", c="gray", label="answering everything")
    for p in dev["coverage"]:
        xy = (100 * p["answered"] / dev["n"], 100 * p["accuracy"])  # ceil(coverage · n) answered
        ax.plot(*xy, "o", c="C3")
        ax.annotate(f"conf ≥ {p['threshold']:.2g}", xy, textcoords="offset points", xytext=(4, 4))
    ax.set(xlabel="coverage: answers given (%)", ylabel="accuracy of the answers given (%)")
    ax.set(xlim=(0, 101), ylim=(-2, 102))
    ax.set_title(f"Accuracy vs coverage (AUROC {_fmt(dev['auroc_correct_vs_wrong'], '.3f')})")
    ax.legend(loc="upper right")  # the coverage markers sit low on the left
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_reliability(bins: list[dict], ece: float, path: Path) -> None:
    """Accuracy per confidence bin against the diagonal of perfect calibration; counts below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, height_ratios=[3, 1])
    width = 1 / len(bins)
    full = [(i * width, b) for i, b in enumerate(bins) if b["count"]]
    xs, accuracy = [x for x, _ in full], [b["accuracy"] for _, b in full]
    top.bar(xs, accuracy, width, align="edge", edgecolor="black", alpha=0.6, label="accuracy")
    top.plot([b["mean_confidence"] for _, b in full], accuracy, "o", c="C3", label="mean conf.")
    top.plot([0, 1], [0, 1], "--", c="gray", label="perfect calibration")
    top.set(
        ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1), title=f"Reliability (ECE {ece:.3f})"
    )
    top.legend(loc="upper left")
    counts = [b["count"] for b in bins]
    bottom.bar(
        [i * width for i in range(len(bins))], counts, width, align="edge", edgecolor="black"
    )
    bottom.set(xlabel="confidence", ylabel="answers")
    save_figure(fig, path)


def plot_confidence_by_group(groups: dict[str, list[float]], path: Path) -> None:
    """Overlaid confidence histograms, each group normalised to its own size."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in groups.items():
        if values:
            weights = [1 / len(values)] * len(values)
            label = f"{name} (n={len(values)})"
            ax.hist(
                values, bins=20, range=(0, 1), weights=weights, histtype="step", lw=2, label=label
            )
    ax.set(xlabel="confidence of the answer", ylabel="fraction of the group", xlim=(0, 1))
    ax.set_title("Confidence: recalled (dev correct) vs made up (dev wrong, unseen people)")
    ax.legend()
    save_figure(fig, path)


# ---------------------------------------------------------------------------- report.md


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _md_numbers(dev: dict) -> list[str]:
    """The AUROC, ECE, coverage and group lines of report.md."""
    lines = [
        "## Can the confidence tell a recalled answer from a made-up one?",
        "",
        f"- AUROC dev correct vs dev wrong: **{_fmt(dev['auroc_correct_vs_wrong'], '.3f')}**",
        f"- AUROC dev correct vs unseen: **{_fmt(dev['auroc_dev_correct_vs_unseen'], '.3f')}**"
        + ("" if "unseen" in dev["groups"] else " (no --unseen_file)"),
        "  (1.0: every recalled answer is more confident than every guess; 0.5: no signal)",
        f"- Expected calibration error ({cal.N_BINS} equal-width bins): **{dev['ece']:.3f}**",
        "",
        "| coverage | answered | accuracy | threshold (`--min_confidence`) | unseen answered |",
        "|---|---|---|---|---|",
    ]
    for p in dev["coverage"]:
        lines.append(
            f"| {100 * p['coverage']:.0f} % | {p['answered']} | {percent(p['accuracy'])} "
            f"| {p['threshold']:.3g} | {percent(p['unseen_answered'])} |"
        )
    lines += ["", "| group | n | mean confidence | median confidence |", "|---|---|---|---|"]
    for name, g in dev["groups"].items():
        mean, median = _fmt(g["mean_confidence"], ".3g"), _fmt(g["median_confidence"], ".3g")
        lines.append(f"| {name} | {g['n']} | {mean} | {median} |")
    return lines + [""]


def _markdown(report: dict) -> str:
    """The human summary of report.json."""
    dev, unseen, training = report["dev"], report["unseen"], report["training"]
    lines = [f"# Report: {report['run_dir']}", ""]
    lines.append(
        f"Dev: `{dev['source']}`, {dev['n']} questions, accuracy {percent(dev['accuracy'])}."
    )
    if unseen:
        lines.append(
            f"Unseen people: `{unseen['source']}`, {unseen['n']} questions, every answer made up "
            f"(right by chance: {percent(unseen['accuracy'])})."
        )
    lines += ["", *_md_numbers(dev)]
    lines += [f"![{Path(i).stem.replace('_', ' ')}]({i})" for i in report["images"]]
    lines += ["", "## Training", ""]
    if training:
        lines.append(
            f"- steps: {training['steps']}, training minutes: {training['train_minutes']}, "
            f"final loss: {training['final_loss']}, "
            f"last dev accuracy: {percent(training['last_dev_accuracy'])}"
        )
    else:
        lines.append("No metrics.jsonl in the run directory: no training curves.")
    lines += ["", "## Provenance", ""] + [f"- {k}: {v}" for k, v in report["provenance"].items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- entry point


def _training(run_dir: Path, out: Path) -> dict | None:
    """Plot metrics.jsonl into training_curves.png; its summary (None without the file)."""
    if not (run_dir / "metrics.jsonl").is_file():
        return None
    train, evals = read_metrics(run_dir / "metrics.jsonl")
    plot_training_curves(train, evals, out / "training_curves.png", run_dir.name)
    return {
        "steps": max((r["step"] for r in train + evals), default=None),
        "train_minutes": max((r.get("train_minutes") or 0 for r in train + evals), default=None),
        "final_loss": train[-1]["loss"] if train else None,
        "last_dev_accuracy": evals[-1]["dev_accuracy"] if evals else None,
        "eval_records": len(evals),
    }


def _unseen(unseen_file, predict: _Predictor) -> tuple[list[float], dict]:
    """Confidences of the answers about unseen people, and their summary."""
    records = predict(unseen_file, "unseen")
    hits = [_answer(r) == r["reference"] for r in records if r.get("reference") is not None]
    accuracy = sum(hits) / len(hits) if hits else None
    info = {"source": str(unseen_file), "n": len(records), "accuracy": accuracy}
    return [float(r["confidence"]) for r in records], info


def build_report(
    run_dir, eval_file=None, unseen_file=None, *, batch_size=256, command=None, output_dir=None
) -> dict:
    """Write RUN_DIR/report/ (figures, report.md, report.json); returns report.json's content.

    Args:
        run_dir: a run directory of `knowgpt pretrain|finetune` (model/, metrics.jsonl, eval/).
        eval_file: question<TAB>place file to answer now; default: the run's dev predictions.
        unseen_file: questions about people absent from the corpus (answers optional).
        batch_size: questions per generate() call when the model answers.
        command: the command recorded in the provenance; default: sys.argv.
        output_dir: where to write instead of RUN_DIR/report (e.g. results/confidence_vanilla).
    """
    start, run_dir = time.perf_counter(), Path(run_dir)
    out = Path(output_dir) if output_dir else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    predict = _Predictor(run_dir, out, batch_size)
    training = _training(run_dir, out)
    records, source = _dev_records(run_dir, eval_file, predict)
    confidences, correct = _scored(records, source)
    unseen, unseen_info = _unseen(unseen_file, predict) if unseen_file else (None, None)
    dev = {"source": source, **cal.summarize(confidences, correct, unseen)}
    plot_accuracy_coverage(confidences, correct, dev, out / "accuracy_coverage.png")
    plot_reliability(dev["reliability"], dev["ece"], out / "reliability.png")
    right, wrong = cal.split_by_correctness(confidences, correct)
    groups = {"dev correct": right, "dev wrong": wrong, "unseen people": unseen or []}
    plot_confidence_by_group(groups, out / "confidence_by_group.png")
    images = ["training_curves.png"] if training else []
    images += ["accuracy_coverage.png", "reliability.png", "confidence_by_group.png"]
    report = {"run_dir": str(run_dir), "dev": dev, "unseen": unseen_info, "training": training}
    report.update(images=images, provenance=provenance(time.perf_counter() - start, command))
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", _markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="knowgpt report", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="run directory (model/, metrics.jsonl, eval/)")
    default = f"default: the run's {DEV_PREDICTIONS}"
    p.add_argument("--eval_file", help=f"question<TAB>place file to answer now ({default})")
    p.add_argument("--unseen_file", help="questions about people the corpus never mentions")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--output_dir", help="where to write (default: RUN_DIR/report)")
    a = p.parse_args(argv)
    command = None if argv is None else ["knowgpt", "report", *argv]
    build_report(
        a.run_dir,
        a.eval_file,
        a.unseen_file,
        batch_size=a.batch_size,
        command=command,
        output_dir=a.output_dir,
    )
    print(Path(a.output_dir or Path(a.run_dir) / "report") / "report.md")
    return 0
