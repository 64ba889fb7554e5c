"""Dev accuracy against training minutes for one recipe and attention variant, under a wall-clock budget.

Recipes that mix the train QA pairs into pretraining (`mixed`, `augmented`) answer questions directly, so dev
accuracy is measured every `--eval_minutes` of training (greedy batched decoding, not counted in the budget).
Other recipes (`cs224n`, `cs224n_fast`, `salient`) pretrain for the budget, then finetune, and give one
point.
Each point also has dev storage (`hf_knowgpt.evaluation.probe`): the share of dev people whose biography the model
completes with the birth place. Storage without accuracy means the facts are in, but not extractable.

    python scripts/time_to_accuracy.py --recipe mixed --attention_type vanilla --minutes 30 \\
        --data_dir ../shared/data/cs224n

Writes results/time_to_accuracy/<recipe>_<variant>_<minutes>min[_<tag>].{json,png} with command, commit, date,
machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hf_knowgpt.evaluation.scoring import evaluate_file, london_baseline  # noqa: E402
from hf_knowgpt.training.args import parse_args  # noqa: E402
from hf_knowgpt.training.recipes import RECIPES  # noqa: E402
from hf_knowgpt.training.trainer import train  # noqa: E402
from hf_knowgpt.utils import atomic_write_json, git_commit, provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ("dev_storage", "dev_cloze_storage")  # the probe by continuation, and by filling in


def _run(job: str, flags: list[str]) -> Path:
    model_args, data_args, train_args = parse_args(job, flags)
    return train(job, model_args, data_args, train_args)


def curve(args, run_dir: Path, dev: Path) -> list[dict]:
    """Train; return the (train_minutes, dev_accuracy) points."""
    common = [
        "--data_dir",
        args.data_dir,
        "--recipe",
        args.recipe,
        "--seed",
        str(args.seed),
        "--report_to",
        "none",
        "--overwrite_output_dir",
        "--logging_steps",
        "50",
        *args.extra,
    ]
    mixes_qa = RECIPES[args.recipe]["pretrain"].get("mix_qa", False)
    pre_flags = [
        *common,
        "--output_dir",
        str(run_dir / "pretrain"),
        "--attention_type",
        args.attention_type,
        "--max_minutes",
        str(args.minutes),
        "--eval_minutes",
        str(args.eval_minutes if mixes_qa else args.minutes),
        "--eval_file",
        str(dev),
    ]
    pretrained = _run("pretrain", pre_flags)
    records = [json.loads(line) for line in (pretrained / "metrics.jsonl").read_text().splitlines()]
    points = [
        {k: r[k] for k in ("train_minutes", "dev_accuracy", *STORAGE, "step") if k in r}
        for r in records
        if "dev_accuracy" in r
    ]
    if mixes_qa:
        return points
    finetuned = _run(
        "finetune",
        [*common, "--output_dir", str(run_dir / "finetune"), "--pretrained_model", str(pretrained)],
    )
    info = json.loads((finetuned / "run_info.json").read_text())
    result = evaluate_file(finetuned / "model", dev)
    point = {
        "train_minutes": json.loads((pretrained / "run_info.json").read_text())["train_minutes"]
        + info["train_minutes"],
        "dev_accuracy": result["accuracy"],
        "step": info["steps"],
    }
    for key in STORAGE:  # of the pretrained model
        if points and key in points[-1]:
            point[key] = points[-1][key]
    return [point]


def plot(points, baseline: float, scratch: float | None, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(
        [p["train_minutes"] for p in points],
        [100 * p["dev_accuracy"] for p in points],
        "o-",
        label=f"{title}: dev accuracy",
    )
    for key, style, color, label in (
        ("dev_storage", "s--", "tab:green", "dev storage (completes the biography with the place)"),
        ("dev_cloze_storage", "^--", "tab:olive", "dev storage (fills the place's blank in)"),
    ):
        stored = [p for p in points if key in p]
        if stored:
            ax.plot(
                [p["train_minutes"] for p in stored],
                [100 * p[key] for p in stored],
                style,
                color=color,
                label=label,
            )
    ax.axhline(
        100 * baseline, color="gray", ls="--", label=f"London baseline ({100 * baseline:.1f} %)"
    )
    if scratch is not None:
        ax.axhline(
            100 * scratch, color="red", ls=":", label=f"no pretraining ({100 * scratch:.1f} %)"
        )
    ax.set_xlabel("training minutes (evaluation not counted)")
    ax.set_ylabel("dev people (%)")
    ax.set_title("Time to knowledge")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="mixed", choices=sorted(RECIPES))
    p.add_argument("--attention_type", default="vanilla")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--eval_minutes", type=float, default=5)
    p.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data" / "cs224n"))
    p.add_argument(
        "--scratch_accuracy", type=float, help="dev accuracy without pretraining (reference line)"
    )
    p.add_argument("--work_dir", default=str(ROOT / "runs" / "time_to_accuracy"))
    p.add_argument("--output_dir", default=str(ROOT / "results" / "time_to_accuracy"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tag", default="", help="appended to the result's name (runs with extra flags)"
    )
    p.add_argument(
        "extra", nargs="*", help="more trainer flags after --, e.g. -- --learning_rate 3e-3"
    )
    args = p.parse_args()
    start, commit = time.perf_counter(), git_commit()
    dev = Path(args.data_dir) / "birth_dev.tsv"
    name = f"{args.recipe}_{args.attention_type}_{args.minutes:g}min" + (
        f"_{args.tag}" if args.tag else ""
    )
    points = curve(args, Path(args.work_dir) / name, dev)
    baseline = london_baseline(dev)["accuracy"]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot(
        points,
        baseline,
        args.scratch_accuracy,
        f"{args.recipe} ({args.attention_type})",
        out / f"{name}.png",
    )
    result = {
        "recipe": args.recipe,
        "attention_type": args.attention_type,
        "budget_minutes": args.minutes,
        "data_dir": args.data_dir,
        "points": points,
        "final_dev_accuracy": points[-1]["dev_accuracy"],
        "best_dev_accuracy": max(p["dev_accuracy"] for p in points),
        "london_baseline": baseline,
        "scratch_accuracy": args.scratch_accuracy,
        "provenance": provenance(time.perf_counter() - start, commit=commit),
    }
    atomic_write_json(out / f"{name}.json", result)
    for pt in points:
        storage = "".join(f"  {key[4:]} {100 * pt[key]:5.1f} %" for key in STORAGE if key in pt)
        print(f"{pt['train_minutes']:7.2f} min  dev {100 * pt['dev_accuracy']:5.1f} %{storage}")


if __name__ == "__main__":
    main()
