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
import shutil
import time
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hf_knowgpt.evaluation.probe import probe_file  # noqa: E402
from hf_knowgpt.evaluation.scoring import london_baseline  # noqa: E402
from hf_knowgpt.lab.runner import COMMON, Started, evaluate_run, parse_flags, run  # noqa: E402
from hf_knowgpt.training.recipes import RECIPES  # noqa: E402
from hf_knowgpt.utils import atomic_write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ("dev_storage", "dev_cloze_storage")  # the probe by continuation, and by filling in


def _common(args, job: str) -> dict:
    """What every run of the curve gets: the drivers' settings, the data, the seed, then the
    trainer flags given after `--` (the ones this job takes)."""
    extra = parse_flags(job, args.extra)
    return {**COMMON, "data_dir": args.data_dir, "seed": args.seed, **extra}


def curve(args, run_dir: Path, dev: Path) -> list[dict]:
    """Train; return the (train_minutes, dev_accuracy) points."""
    mixes_qa = RECIPES[args.recipe]["pretrain"].get("mix_qa", False)
    pretrained = run(
        "pretrain",
        args.recipe,
        **{
            **_common(args, "pretrain"),
            "output_dir": run_dir / "pretrain",
            "attention_type": args.attention_type,
            "max_minutes": args.minutes,
            "eval_minutes": args.eval_minutes if mixes_qa else args.minutes,
            "eval_file": dev,
        },
    )
    metrics = (pretrained.output_dir / "metrics.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in metrics.splitlines()]
    points = [
        {k: r[k] for k in ("train_minutes", "dev_accuracy", *STORAGE, "step") if k in r}
        for r in records
        if "dev_accuracy" in r
    ]
    if mixes_qa:
        return points
    finetuned = run(
        "finetune",
        args.recipe,
        **{
            **_common(args, "finetune"),
            "output_dir": run_dir / "finetune",
            "pretrained_model": pretrained.output_dir,
        },
    )
    point = {
        "train_minutes": pretrained.run_info["train_minutes"] + finetuned.run_info["train_minutes"],
        "dev_accuracy": evaluate_run(finetuned, dev)["accuracy"],
        "step": finetuned.run_info["steps"],
    }
    for key in STORAGE:  # of the pretrained model
        if points and key in points[-1]:
            point[key] = points[-1][key]
    return [point]


def checkpoint_points(args, run: Path, dev: Path, work: Path, save) -> list[dict]:
    """One point per checkpoint of the pretraining `run`, as they appear (the last one holds the final
    weights): both storage probes of the checkpoint's weights, then the recipe's finetuning from them,
    scored on dev. `save(points)` is called after each point.

    The checkpoints are one run's, at its own LR schedule: a point at minute 30 of a 110-minute cosine
    is not a 30-minute recipe (it has not annealed).
    """
    like = Path(args.config_from or run / "model")  # config and tokenizer of the run's model
    points, done = [], set()
    while True:
        finished = (run / "run_info.json").exists()  # written after the final checkpoint
        pending = sorted(
            p for p in (run / "checkpoints").glob("checkpoint_*") if p.name not in done
        )
        if not pending and finished:
            break
        if not pending:
            time.sleep(30)
            continue
        ckpt = pending[0]
        done.add(ckpt.name)
        folder = work / ckpt.name / "pretrained"
        _model_folder(ckpt / "model.safetensors", like, folder)
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))["state"]
        points.append(_point(args, folder, dev, work / ckpt.name, state["train_seconds"] / 60))
        points[-1]["step"] = state["step"]
        save(points)
    for name in ("config.json", "vocab.json"):  # the folders built from `like` were the run's model
        theirs, ours = (_settings(f / name) for f in (like, run / "model"))
        if theirs != ours:
            raise SystemExit(f"{like / name} differs from the run's {run / 'model' / name}")
    return points


def _model_folder(weights: Path, like: Path, folder: Path) -> None:
    """A loadable model folder: `weights` (a checkpoint's) with the config, tokenizer and code of `like`."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in like.iterdir():
        if f.suffix == ".py" or f.name in _SHARED:
            shutil.copy2(f, folder / f.name)
    shutil.copy2(weights, folder / "model.safetensors")


_SHARED = ("config.json", "generation_config.json", "vocab.json", "tokenizer_config.json")


def _settings(path: Path) -> dict:
    """A config or vocabulary file's content, less what export adds (the remote code's `auto_map`) and
    the library version that wrote it."""
    content = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in content.items() if k not in ("auto_map", "transformers_version")}


def _point(args, pretrained: Path, dev: Path, work: Path, pretrain_minutes: float) -> dict:
    """Storage of `pretrained`, then the recipe's finetuning from it, scored on `dev`."""
    corpus = Path(args.data_dir) / "wiki.txt"
    point = {"pretrain_minutes": round(pretrain_minutes, 2)}
    for key, cloze in (("dev_storage", False), ("dev_cloze_storage", True)):
        point[key] = probe_file(pretrained, corpus, dev, cloze=cloze)["storage"]
    finetuned = run(
        "finetune",
        args.recipe,
        **{
            **_common(args, "finetune"),
            "pretrained_model": pretrained,
            "output_dir": work / "finetune",
        },
    )
    point["train_minutes"] = round(pretrain_minutes + finetuned.run_info["train_minutes"], 2)
    point["dev_accuracy"] = evaluate_run(finetuned, dev)["accuracy"]
    print(
        f"{point['pretrain_minutes']:7.2f} min pretraining: dev {100 * point['dev_accuracy']:5.1f} %, "
        f"storage {100 * point['dev_storage']:5.1f} %, cloze {100 * point['dev_cloze_storage']:5.1f} %",
        flush=True,
    )
    return point


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
    p.add_argument(
        "--from_run",
        help="a pretraining run (running or finished) to follow instead of training one: each "
        "checkpoint is probed, finetuned with the recipe and scored",
    )
    p.add_argument(
        "--config_from",
        help="with --from_run: the model folder whose config and tokenizer the checkpoints share "
        "(default: the run's final model/)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
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
    if args.threads:
        torch.set_num_threads(args.threads)
        args.extra += ["--threads", str(args.threads)]
    started = Started()
    dev = Path(args.data_dir) / "birth_dev.tsv"
    budget = f"{args.minutes:g}min" if not args.from_run else "checkpoints"
    name = f"{args.recipe}_{args.attention_type}_{budget}" + (f"_{args.tag}" if args.tag else "")
    baseline = london_baseline(dev)["accuracy"]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    def save(points: list[dict]) -> None:
        title = f"{args.recipe} ({args.attention_type})"
        plot(points, baseline, args.scratch_accuracy, title, out / f"{name}.png")
        result = {
            "recipe": args.recipe,
            "attention_type": args.attention_type,
            "budget_minutes": None if args.from_run else args.minutes,
            "from_run": args.from_run,
            "data_dir": args.data_dir,
            "points": points,
            "final_dev_accuracy": points[-1]["dev_accuracy"],
            "best_dev_accuracy": max(p["dev_accuracy"] for p in points),
            "london_baseline": baseline,
            "scratch_accuracy": args.scratch_accuracy,
            "provenance": started.provenance(),
        }
        atomic_write_json(out / f"{name}.json", result)

    work = Path(args.work_dir) / name
    if args.from_run:
        points = checkpoint_points(args, Path(args.from_run), dev, work, save)
    else:
        points = curve(args, work, dev)
        save(points)
    for pt in points:
        storage = "".join(f"  {key[4:]} {100 * pt[key]:5.1f} %" for key in STORAGE if key in pt)
        print(f"{pt['train_minutes']:7.2f} min  dev {100 * pt['dev_accuracy']:5.1f} %{storage}")


if __name__ == "__main__":
    main()
