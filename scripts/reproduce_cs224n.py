"""The course's table, end to end on a data directory: London baseline, vanilla from scratch, and
pretrained + finetuned vanilla, synthesizer and Perceiver. Writes results/cs224n.{md,json}.

The faithful course pretraining is 650 epochs (≈18 h per variant on 2 CPU cores), so each pretraining is
cut at `--pretrain_minutes` of training and finetunings at `--finetune_minutes` (0: not cut, the recipe's
full epochs); every row records the recipe, its budget and the epochs it actually reached. The table is
rewritten after every row, so a run stopped early keeps the rows it finished. `--jobs N` runs N
pretrainings at once as separate processes: one GPU has room for several of these small models
(each row still records its own training time, then measured on a shared machine).

    python scripts/reproduce_cs224n.py --data_dir ../shared/data/cs224n --recipe cs224n_fast \\
        --pretrain_minutes 10 --finetune_minutes 6 [--variants vanilla,synthesizer,perceiver]
    # the faithful course recipe, end to end (a GPU: ≈ minutes per variant)
    python scripts/reproduce_cs224n.py --recipe cs224n --pretrain_minutes 0 --finetune_minutes 0 \\
        --output results/cs224n_gpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from hf_knowgpt.evaluation.scoring import london_baseline
from hf_knowgpt.lab.runner import (
    COMMON,
    Run,
    Started,
    cli_flags,
    evaluate_run,
    parse_flags,
    run,
    write_result,
)
from hf_knowgpt.training.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {  # the course's dev results (SPEC.md)
    "London baseline": "5.0 %",
    "vanilla, no pretraining": "0.6-1.4 %",
    "vanilla, pretrained + finetuned": "20.2-23.0 % (24 % reported)",
    "synthesizer, pretrained + finetuned": "6.2 %",
    "perceiver, pretrained + finetuned": "(not published)",
}


def _row(name: str, runs: list[Run], result: dict) -> dict:
    budget = "; ".join(
        f"{i['job']} {i['recipe']}: {i['epochs']} epochs, {i['train_minutes']} min, {i['steps']} steps"
        for i in (r.run_info for r in runs)
    )
    return {
        "row": name,
        "accuracy": result["accuracy"],
        "correct": result["correct"],
        "total": result["total"],
        "budget": budget or "no training",
        "published": PUBLISHED.get(name, ""),
    }


def _pretrain_in_parallel(recipe: str, overrides: dict[str, dict], jobs: int, work: Path) -> None:
    """Run `knowgpt pretrain` with each variant's overrides, `jobs` processes at a time; each logs to
    work/<variant>_pretrain.log. Raises if one fails."""
    work.mkdir(parents=True, exist_ok=True)

    def one(variant: str) -> None:
        log = work / f"{variant}_pretrain.log"
        flags = cli_flags(recipe, overrides[variant])
        cmd = [sys.executable, "-m", "hf_knowgpt.cli", "pretrain", *flags]
        with open(log, "w", encoding="utf-8") as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        if rc:
            raise RuntimeError(f"the {variant} pretraining failed (exit {rc}); see {log}")

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, overrides))  # re-raises the first failure


def _budget(minutes: float) -> dict:
    """The trainer's time cut (none for 0: the recipe's full epochs)."""
    return {"max_minutes": minutes} if minutes else {}


def _cut(minutes: float) -> str:
    return f"cut at {minutes} min of training" if minutes else "not cut (the recipe's full epochs)"


def _write(a, dev: Path, rows: list[dict], todo: list[str], prov: dict) -> None:
    """results/<output>.{json,md}: the rows so far, and the rows still to run if the run is not over."""
    payload = {
        "rows": rows,
        "rows_still_to_run": todo,
        "recipe": a.recipe,
        "pretrain_minutes": a.pretrain_minutes or None,
        "finetune_minutes": a.finetune_minutes or None,
        "pretrain_jobs": a.jobs,
        "data_dir": a.data_dir,
    }
    table = "\n".join(
        f"| {r['row']} | {100 * r['accuracy']:.1f} % ({r['correct']}/{r['total']}) | {r['published']} | {r['budget']} |"
        for r in rows
    )
    unfinished = f"\n**Run not finished**: still to run: {', '.join(todo)}.\n" if todo else ""
    markdown = (
        f"# The CS224N table, reproduced (dev set, `{dev}`)\n\n"
        "| run | measured dev accuracy | course (published) | training budget of this measurement |\n"
        f"|---|---|---|---|\n{table}\n{unfinished}\nRecipe `{a.recipe}`; pretraining "
        f"{_cut(a.pretrain_minutes)} and finetuning {_cut(a.finetune_minutes)} (the course pretrains "
        f"650 epochs)."
        + (f" The pretrainings ran {a.jobs} at a time on this machine." if a.jobs > 1 else "")
    )
    write_result(a.output, payload, markdown, prov)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data" / "cs224n"))
    p.add_argument("--recipe", default="cs224n_fast", choices=sorted(RECIPES))
    p.add_argument("--variants", default="vanilla,synthesizer,perceiver")
    p.add_argument("--pretrain_minutes", type=float, default=10, help="0: the full recipe")
    p.add_argument("--finetune_minutes", type=float, default=6, help="0: the full recipe")
    p.add_argument("--work_dir", default=str(ROOT / "runs" / "cs224n"))
    p.add_argument("--output", default=str(ROOT / "results" / "cs224n"))
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="VARIANT=RUN_DIR",
        help="use this finished pretraining run for VARIANT instead of pretraining again",
    )
    p.add_argument("--jobs", type=int, default=1, help="pretrainings to run at once (processes)")
    p.add_argument("extra", nargs="*", help="more trainer flags after --")
    a = p.parse_args()
    started = Started()
    device = "cuda" if torch.cuda.is_available() else None  # decoding where training ran
    dev = Path(a.data_dir) / "birth_dev.tsv"
    work = Path(a.work_dir)
    extra = {job: parse_flags(job, a.extra) for job in ("pretrain", "finetune")}  # they win
    common = {job: {"data_dir": a.data_dir, **COMMON, **extra[job]} for job in extra}
    variants = a.variants.split(",")
    todo = ["vanilla, no pretraining"] + [f"{v}, pretrained + finetuned" for v in variants]
    rows: list[dict] = []

    def finished(row: dict) -> None:
        rows.append(row)
        if row["row"] in todo:
            todo.remove(row["row"])
        _write(a, dev, rows, todo, started.provenance())

    def pretrain_dir(variant: str) -> Path:
        return work / f"{variant}_pretrain"

    def pretraining(variant: str) -> dict:
        return {**common["pretrain"], "attention_type": variant, **_budget(a.pretrain_minutes),
                "output_dir": pretrain_dir(variant)}  # fmt: skip

    def finetune(**overrides) -> Run:
        overrides = {**common["finetune"], **_budget(a.finetune_minutes), **overrides}
        return run("finetune", a.recipe, **overrides)

    reuse = {v: Path(d) for v, d in (item.split("=", 1) for item in a.reuse)}
    if a.jobs > 1:  # all pretrainings first, side by side; then the rows as below
        todo_pretrain = [v for v in variants if v not in reuse]
        _pretrain_in_parallel(a.recipe, {v: pretraining(v) for v in todo_pretrain}, a.jobs, work)
        reuse.update({v: pretrain_dir(v) for v in todo_pretrain})
    finished(_row("London baseline", [], london_baseline(dev)))
    scratch = finetune(output_dir=work / "vanilla_scratch")
    result = evaluate_run(scratch, dev, device=device)
    finished(_row("vanilla, no pretraining", [scratch], result))
    for variant in variants:
        if variant in reuse:  # a finished pretraining, with its own record
            pre = Run.load(reuse[variant])
        else:
            pre = run("pretrain", a.recipe, **pretraining(variant))
        fin = finetune(pretrained_model=pre.output_dir, output_dir=work / f"{variant}_finetune")
        result = evaluate_run(fin, dev, "dev_predictions.txt", device=device)
        finished(_row(f"{variant}, pretrained + finetuned", [pre, fin], result))
        print(f"{variant}: {100 * result['accuracy']:.1f} % dev", flush=True)
    print(Path(a.output + ".md").read_text())


if __name__ == "__main__":
    main()
