"""`knowgpt demo`: the experiment in miniature on the built-in synthetic corpus, in about 10 CPU minutes.

It pretrains on synthetic biographies, finetunes on birth-place questions with and without that
pretraining, evaluates both on people the finetuning never saw, and prints the table.
`--data_dir DIR` runs the same pipeline, recipe and defaults on a corpus of your own in the course's
layout (no generation step), checked before any training.

What makes a small model answer new people within minutes (RESULTS.md): several compact biographies
per person, the train questions mixed into pretraining, salient span masking on the name's sentence,
and Muon on the hidden matrices (at the same 8 minutes, seed 1 went from 37.0 % with AdamW to 75.5 %).
"""

from __future__ import annotations

import argparse
import logging
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from ..data.readers import read_qa, vocabulary  # noqa: E402
from ..data.synthetic import generate  # noqa: E402
from ..evaluation.probe import NothingToProbe, probe_file  # noqa: E402
from ..evaluation.report import read_metrics, save_figure  # noqa: E402
from ..evaluation.scoring import course_line, london_baseline  # noqa: E402
from ..evaluation.stats import fisher_greater, wilson_interval  # noqa: E402
from .runner import COMMON, Started, evaluate_run, run, write_result  # noqa: E402

logger = logging.getLogger(__name__)

MODEL = {"n_embd": 128, "n_head": 4}
"""The demo's model: smaller than the course's, so that it stores facts in a few CPU minutes."""


GENERATION = {"n_people": 300, "variants": 4, "train_share": 1 / 3, "full_names": True}
"""The built-in corpus's defaults (`synthetic.generate`); a user's `data_dir` replaces them all.
300 people, a third with a train question and the rest dev: 200 dev people. The best of the
designs measured at 200 dev people (results/demo_diagnostics/), with COMPACT biographies."""

CURVE_POINTS = 6
"""Mid-run dev scorings of the pretraining, for the figure's accuracy-against-minutes curve."""

AFTER_PRETRAINING_MINUTES = 0.6
"""What the demo does besides pretraining on the built-in corpus (generation, both finetunings,
scoring four models and probing three, the mid-run scorings): 23 s of the 503 of the default
8-minute demo on 2 AMD EPYC cores (results/demo.json)."""

COMPACT = {"max_extras": 0, "late_share": 0.0}
"""Each biography is the name and one sentence, the birth place early: the small model stores more
people in the demo's minutes than with the default biographies' extra sentences."""


def check_data_dir(data_dir: Path) -> None:
    """A user's corpus in the course's layout, read before any training: a malformed file is one
    `file:line` DataError. Dev must have answers; both QA files must fit the vocabulary a model
    trained here gets (the corpus plus the train file, `readers.vocabulary`)."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: data directory not found")
    tokenizer = vocabulary(data_dir / "wiki.txt", data_dir / "birth_places_train.tsv")
    read_qa(data_dir / "birth_dev.tsv", tokenizer, require_answers=True)


def make_corpus(
    data_dir: Path, n_people: int, variants: int, train_share: float, full_names: bool, seed: int
) -> None:
    """The demo's synthetic corpus: train_share of the people with a train question, the rest dev
    questions, and a tenth more never in the corpus (for `knowgpt report --unseen_file`)."""
    n_train = int(train_share * n_people)
    generate(
        data_dir,
        n_people=n_people,
        n_train=n_train,
        n_dev=n_people - n_train,
        n_unseen=n_people // 10,
        seed=seed,
        variants=variants,
        full_names=full_names,
        **COMPACT,
    )


def dev_storage(model_dir: Path, data_dir: Path) -> dict:
    """Both storage probes of a model on data_dir's dev people: "storage" (continues the biography)
    and "cloze_storage" (fills in the blank); None where nothing can be probed (a user's corpus may
    not name the dev people's places early)."""
    result = {}
    for key, cloze in (("storage", False), ("cloze_storage", True)):
        try:
            result[key] = probe_file(
                model_dir, data_dir / "wiki.txt", data_dir / "birth_dev.tsv", cloze=cloze
            )
        except NothingToProbe:
            result[key] = None
    return result


def plot_demo(rows: dict[str, dict], curve: list[dict], path: Path, title: str) -> None:
    """demo_results.png: each row's dev accuracy with its 95 % interval (left), and the pretrained
    model's dev accuracy against pretraining minutes (right; `curve`: its mid-run evaluations)."""
    fig, (bars, line) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(rows)
    acc = [100 * rows[n]["accuracy"] for n in names]
    low = [a - 100 * rows[n]["ci95"][0] for a, n in zip(acc, names, strict=True)]
    high = [100 * rows[n]["ci95"][1] - a for a, n in zip(acc, names, strict=True)]
    bars.bar(range(len(names)), acc, yerr=[low, high], capsize=6, color="tab:blue")
    for i, (a, n) in enumerate(zip(acc, names, strict=True)):
        bars.text(i, a + high[i] + 2, f"{a:.1f} %\n{rows[n]['correct']}/{rows[n]['total']}",
                  ha="center", fontsize=9)  # fmt: skip
    bars.set_xticks(range(len(names)), [textwrap.fill(n, 16) for n in names])
    total = rows[names[-1]]["total"]
    bars.set(ylabel="dev accuracy (%)", ylim=(0, 100), title=f"{total} dev people, 95 % intervals")
    bars.grid(axis="y", alpha=0.3)
    if curve:
        line.plot([r["train_minutes"] for r in curve], [100 * r["dev_accuracy"] for r in curve],
                  marker="o")  # fmt: skip
    else:
        line.text(0.5, 0.5, "no mid-run evaluations", ha="center", va="center",
                  transform=line.transAxes)  # fmt: skip
    line.set(xlabel="pretraining minutes", ylabel="dev accuracy, pretrained only (%)",
             xlim=(0, None), ylim=(0, 100), title="the pretrained model on dev, as it trains")  # fmt: skip
    line.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)


def run_demo(
    output_dir: str,
    *,
    data_dir: str | None = None,
    pretrain_minutes: float = 8.0,
    finetune_epochs: int = 10,
    n_people: int = GENERATION["n_people"],
    variants: int = GENERATION["variants"],
    train_share: float = GENERATION["train_share"],
    full_names: bool = GENERATION["full_names"],
    attention_type: str = "vanilla",
    model: dict | None = None,
    seed: int = 0,
) -> dict:
    """Pretrain → finetune → evaluate, and finetune from scratch → evaluate; returns the results.

    Args:
        output_dir: where the corpus, the three runs and `demo_results.{md,json}` go.
        data_dir: a corpus of your own in the course's layout (wiki.txt, birth_places_train.tsv,
            birth_dev.tsv) instead of generating one; checked before any training. The generation
            arguments (n_people, variants, train_share, full_names) then do not apply.
        pretrain_minutes: training-time budget of the pretraining (8 minutes keep the demo, with
            its 200 dev people scored ten times, under 10 on 2 CPU cores).
        finetune_epochs: epochs of both finetunings.
        n_people: size of the synthetic corpus (train_share train questions, the rest dev).
        variants: biographies per person (the same facts in other words and orders); Allen-Zhu & Li show
            that without such diversity a model memorises facts it cannot extract for new people.
        train_share: share of the people whose question is in the train file.
        full_names: name the person in full in every sentence (see `synthetic.generate`).
        attention_type: vanilla, synthesizer or perceiver.
        model: model arguments, e.g. {"n_layer": 4} (default: `MODEL`).
        seed: seed of the corpus and of training.
    """
    started = Started()
    end = time.strftime(
        "%H:%M", time.localtime(time.time() + 60 * (pretrain_minutes + AFTER_PRETRAINING_MINUTES))
    )

    def phase(k: int, what: str) -> str:
        """Log the phase's start; return its progress bar's label, which carries the demo's end."""
        elapsed = (time.perf_counter() - started.clock) / 60
        logger.info("demo %d/4: %s (%.1f min in; the demo should end about %s%s)", k, what,
                    elapsed, end, "" if generated else ", later for a larger corpus")  # fmt: skip
        return f"demo {k}/4 {what} (demo ends ~{end}{'' if generated else '+'})"

    out = Path(output_dir)
    generated = data_dir is None
    if generated:
        data_dir = out / "data"
        make_corpus(data_dir, n_people, variants, train_share, full_names, seed)
    else:
        data_dir = Path(data_dir)
        check_data_dir(data_dir)
    common = {"data_dir": data_dir, "seed": seed, **COMMON, **(MODEL if model is None else model)}
    dev = data_dir / "birth_dev.tsv"
    pretrained = run(  # scored on dev CURVE_POINTS times as it trains, outside its budget
        "pretrain", "demo", **common, output_dir=out / "pretrain", attention_type=attention_type,
        max_minutes=pretrain_minutes, eval_minutes=pretrain_minutes / CURVE_POINTS, eval_file=dev,
        progress_label=phase(1, f"pretraining for {pretrain_minutes} min"),
    )  # fmt: skip
    finetuned = run(
        "finetune", "demo", **common, output_dir=out / "finetune",
        pretrained_model=pretrained.output_dir, num_epochs=finetune_epochs,
        progress_label=phase(2, "finetuning the pretrained model"),
    )  # fmt: skip
    scratch = run(
        "finetune", "demo", **common, output_dir=out / "scratch",
        attention_type=attention_type, num_epochs=finetune_epochs,
        progress_label=phase(3, "finetuning without pretraining"),
    )  # fmt: skip
    models = {  # pretraining sees the train questions mixed in, never a dev one
        "finetuned without pretraining": scratch,
        "pretrained, not finetuned": pretrained,
        "pretrained + finetuned": finetuned,
    }
    rows = {"London baseline": london_baseline(dev)}
    label = phase(4, "scoring and probing the models on dev")
    for name, trained in tqdm(models.items(), desc=label, dynamic_ncols=True):
        rows[name] = evaluate_run(trained, dev, "dev_predictions.txt")
        rows[name].update(dev_storage(trained.model_dir, data_dir))
    pre_info = pretrained.run_info
    with_pre, without = rows["pretrained + finetuned"], rows["finetuned without pretraining"]
    results = {
        "rows": {
            k: {
                "accuracy": v["accuracy"],
                "correct": v["correct"],
                "total": v["total"],
                "ci95": list(wilson_interval(v["correct"], v["total"])),
                **{key: v[key] for key in ("storage", "cloze_storage") if key in v},
            }
            for k, v in rows.items()
        },
        # One-sided Fisher exact test: pretrained + finetuned no better than without pretraining.
        "p_value_pretraining_helps": fisher_greater(
            with_pre["correct"], with_pre["total"], without["correct"], without["total"]
        ),
        "attention_type": attention_type,
        "data_dir": None if generated else str(data_dir),
        **(
            {
                "n_people": n_people,
                "variants": variants,
                "train_share": train_share,
                "full_names": full_names,
            }
            if generated
            else {}
        ),  # fmt: skip
        "pretrain_minutes": pre_info["train_minutes"],
        "pretrain_epochs": pre_info["epochs"],
        "finetune_epochs": finetune_epochs,
        "pretrain_curve": [
            {k: r[k] for k in ("train_minutes", "step", "dev_accuracy")}
            for r in read_metrics(pretrained.output_dir / "metrics.jsonl")[1]
        ],
    }

    source = f"{n_people} synthetic people x {variants} biographies" if generated else data_dir

    def stored(v: dict | None) -> str:
        return f"{100 * v['storage']:.1f} % ({v['stored']}/{v['probed']})" if v else "-"

    table = "\n".join(
        [
            "| model | dev accuracy | correct | 95 % interval | dev storage: continues the "
            "biography | dev storage: fills in the blank |",
            "|---|---|---|---|---|---|",
        ]
        + [
            f"| {k} | {100 * v['accuracy']:.1f} % | {v['correct']}/{v['total']} | "
            f"{100 * v['ci95'][0]:.1f}-{100 * v['ci95'][1]:.1f} % | {stored(v.get('storage'))} | "
            f"{stored(v.get('cloze_storage'))} |"
            for k, v in results["rows"].items()
        ]
    )
    results = write_result(
        out / "demo_results",
        results,
        f"# knowgpt demo ({attention_type})\n\n{table}\n\nPretraining: {pre_info['train_minutes']} min "
        f"({pre_info['epochs']} epochs) on "
        f"{source}; "
        f"finetuning {finetune_epochs} epochs. Pretrained + finetuned against finetuned without "
        f"pretraining: one-sided Fisher exact p = {results['p_value_pretraining_helps']:.3g}.\n\n"
        "Dev storage (`knowgpt probe`): dev people whose biography, cut before the birth place, the "
        "model continues with it; and (`--cloze`) whose biography, the place blanked out as span "
        "corruption does, it fills in with it. Storage without accuracy: the facts are in the "
        "weights, but the questions cannot reach them. 95 % intervals: Wilson.",
        started.provenance(),
    )
    figure = out / "demo_results.png"
    plot_demo(results["rows"], results["pretrain_curve"], figure,
              f"knowgpt demo ({attention_type}): {source}")  # fmt: skip
    print(f"\n{table}\n")
    for name, v in rows.items():
        print(f"{name}: {course_line(v['correct'], v['total'])}")
    wall = results["provenance"]["wall_seconds"]
    print(f"\nwall time {wall:.0f} s; results in {out / 'demo_results.md'}, figure {figure}")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="knowgpt demo", description=__doc__)
    p.add_argument("--output_dir", default="runs/demo")
    p.add_argument("--pretrain_minutes", type=float, default=8.0)
    p.add_argument("--finetune_epochs", type=int, default=10)
    p.add_argument(
        "--data_dir",
        help="your own corpus in the course's layout (wiki.txt, birth_places_train.tsv, "
        "birth_dev.tsv) instead of the generated one",
    )
    gen = p.add_argument_group("the generated corpus (not with --data_dir)")
    gen.add_argument("--n_people", type=int, help=f"default {GENERATION['n_people']}")
    gen.add_argument(
        "--variants", type=int, help=f"biographies per person (default {GENERATION['variants']})"
    )
    gen.add_argument(
        "--train_share",
        type=float,
        help=f"people with a train question, the rest dev (default {GENERATION['train_share']:.3g})",
    )
    gen.add_argument(
        "--full_names",
        action=argparse.BooleanOptionalAction,
        help="name each person in full in every sentence (default: yes)",
    )
    p.add_argument("--attention_type", default="vanilla")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    given = {k: getattr(a, k) for k in GENERATION if getattr(a, k) is not None}
    if a.data_dir and given:
        p.error(f"--{' --'.join(given)} describe the generated corpus; drop them with --data_dir")
    run_demo(
        a.output_dir,
        data_dir=a.data_dir,
        pretrain_minutes=a.pretrain_minutes,
        finetune_epochs=a.finetune_epochs,
        attention_type=a.attention_type,
        seed=a.seed,
        **{**GENERATION, **given},
    )
    return 0
