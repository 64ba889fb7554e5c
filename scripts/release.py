"""Release a pretrained run and its finetuned run into `models/`, measured on the folders as shipped.

    python scripts/release.py --name knowgpt-vanilla-cpu2h --pretrain_run runs/cpu2h_pre \\
        --finetune_run runs/cpu2h_ft --data_dir ../shared/data/cs224n --hardware "2 CPU cores, AMD EPYC"

`--pretrain_run models/NAME-pretrained` releases a new finetuning of the released pretrained model and
leaves that folder as it is. `--finetuned_only` ships NAME-finetuned alone (its card still gives the
pretraining run), where models/ has no room for both.

Each run is exported (`knowgpt export`: weights, config with the full auto_map, code, tokenizer, card);
the finetuned folder is then evaluated on dev with `knowgpt evaluate`'s code, and that number, London
beside it, the commands, commits, hardware and training minutes are added to both cards and to
`models/index.json`. `results/releases/NAME.json` records it all with its provenance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_knowgpt.evaluation.scoring import evaluate_file, london_baseline
from hf_knowgpt.hub.publish import export
from hf_knowgpt.hub.released import read_index
from hf_knowgpt.lab.runner import Run, Started, write_result
from hf_knowgpt.training.recipes import RECIPES
from hf_knowgpt.utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]


def _check_recipe(recipe: str, runs: dict[str, Path]) -> None:
    """Raise unless each run was trained with every argument `recipe`'s preset for its job sets, so
    that a release named after a recipe (which `--recipe` may give, for runs trained with the same
    arguments as flags before the recipe had its name) is what that recipe reproduces."""
    for job, run in runs.items():
        args = json.loads((run / "run_info.json").read_text(encoding="utf-8"))["args"]
        recorded = {k: v for group in args.values() for k, v in group.items()}
        wrong = {k: (recorded.get(k), v) for k, v in RECIPES[recipe][job].items()
                 if recorded.get(k) != v}  # fmt: skip
        if wrong:
            raise SystemExit(f"{run / 'run_info.json'}: not trained as recipe {recipe!r}'s {job} "
                             f"(argument: (recorded, recipe's)): {wrong}")  # fmt: skip


def _release_section(facts: dict, hardware: str, dev: dict | None, note: str) -> str:
    rows = [f"| {stage} | `{f['command']}` | {f['git_commit']} | {f['date']} | {f['train_minutes']} min, "
            f"{f['steps']} steps ({f['epochs']} epochs) |" for stage, f in facts.items()]  # fmt: skip
    text = [
        "",
        "## This release",
        "",
        f"Hardware: **{hardware}** ({next(iter(facts.values()))['machine']}).",
        "",
    ]
    if dev:
        text += [f"**Dev accuracy, measured on this folder as shipped: {100 * dev['accuracy']:.1f} % "
                 f"({dev['correct']}/{dev['total']})**, against the London baseline's "
                 f"{100 * dev['london']:.1f} % (`knowgpt evaluate --model_dir . --eval_file birth_dev.tsv`).", ""]  # fmt: skip
    text += ["| stage | command | commit | date | training |", "|---|---|---|---|---|", *rows, ""]
    if note:
        text += [note, ""]
    return "\n".join(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--name", required=True, help="release name; folders NAME-pretrained, NAME-finetuned"
    )
    p.add_argument("--pretrain_run", type=Path, required=True)
    p.add_argument("--finetune_run", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True, help="holds birth_dev.tsv")
    p.add_argument("--hardware", required=True, help='e.g. "2 CPU cores, AMD EPYC"')
    p.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="the recipe to list the pair under (default: the finetuning run's); both "
                   "runs must have been trained with its arguments")  # fmt: skip
    p.add_argument("--note", default="", help="a line added to both cards")
    p.add_argument("--finetuned_only", action="store_true",
                   help="release NAME-finetuned alone (no NAME-pretrained folder or index entry)")  # fmt: skip
    p.add_argument("--models_dir", type=Path, default=ROOT / "models")
    p.add_argument("--results_dir", type=Path, default=ROOT / "results" / "releases")
    a = p.parse_args()
    started = Started()
    models = a.models_dir
    facts = {"pretraining": Run.load(a.pretrain_run).facts(),
             "finetuning": Run.load(a.finetune_run).facts()}  # fmt: skip
    # The named recipe of the pair: the finetuning run's unless given (the pretraining may predate it).
    recipe = a.recipe or facts["finetuning"]["recipe"]
    if a.recipe:
        _check_recipe(recipe, {"pretrain": a.pretrain_run, "finetune": a.finetune_run})
    minutes = round(sum(f["train_minutes"] for f in facts.values()), 2)
    pre, fine = models / f"{a.name}-pretrained", models / f"{a.name}-finetuned"
    # --pretrain_run models/NAME-pretrained: a new finetuning of the released pretrained model, which
    # stays exactly as released (folder and card).
    keep_pretrained = a.pretrain_run.resolve() == pre.resolve()
    ship_pretrained = not keep_pretrained and not a.finetuned_only
    if ship_pretrained:
        export(a.pretrain_run, pre, overwrite=True)
    export(a.finetune_run, fine, overwrite=True)
    dev_file = a.data_dir / "birth_dev.tsv"
    dev = evaluate_file(fine, dev_file, None)
    dev["london"] = london_baseline(dev_file)["accuracy"]
    cards = [(fine, facts, dev)]
    if ship_pretrained:
        cards.append((pre, {"pretraining": facts["pretraining"]}, None))
    for folder, stage_facts, stage_dev in cards:
        card = folder / "README.md"
        card.write_text(
            card.read_text(encoding="utf-8")
            + _release_section(stage_facts, a.hardware, stage_dev, a.note),
            encoding="utf-8",
        )
    entries = [e for e in (read_index(models) if (models / "index.json").is_file() else [])
               if e["name"] not in (pre.name, fine.name)]  # fmt: skip
    common = {"attention_type": json.loads((fine / "config.json").read_text())["attention_type"],
              "recipe": recipe, "hardware": a.hardware}  # fmt: skip
    if not a.finetuned_only:
        entries.append({"name": pre.name, "stage": "pretrained", **common,
                        "training_minutes": facts["pretraining"]["train_minutes"]})  # fmt: skip
    entries += [
        {"name": fine.name, "stage": "finetuned", **common, "training_minutes": minutes,
         "dev_accuracy": dev["accuracy"], "dev_correct": dev["correct"], "dev_total": dev["total"]},
    ]  # fmt: skip
    atomic_write_json(models / "index.json", entries)
    folders = [fine.name] if a.finetuned_only else [pre.name, fine.name]
    record = {"name": a.name, "folders": folders, "runs": facts, "hardware": a.hardware,
              "training_minutes": minutes, "dev": {k: dev[k] for k in ("accuracy", "correct", "total", "london")}}  # fmt: skip
    write_result(a.results_dir / a.name, record, None, started.provenance())
    print(f"{fine.name}: dev {100 * dev['accuracy']:.1f} % ({dev['correct']}/{dev['total']}), "
          f"London {100 * dev['london']:.1f} %, {minutes} training minutes")  # fmt: skip


if __name__ == "__main__":
    main()
