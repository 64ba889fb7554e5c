"""How much of what pretraining stored does finetuning get back out? One pretrained model, finetuned
under several settings, each scored on dev: overall, and split by whether the pretrained model had
stored the person's birth place (it completes the biography, cut before the place, with it).

    python scripts/extraction_sweep.py --pretrained_model runs/gpu_fixed/table/vanilla_pretrain/model \\
        --data_dir ../shared/data/cs224n --output results/extraction/gpu_seed0 [--settings course,epochs_5]

Every finetuning starts from the same weights with the same seed; the settings change one thing each from
the course's finetuning (`--recipe`, default cs224n_fast: the course's finetuning, pad-free). Writes
OUTPUT.json and OUTPUT.md with the command, commit, date, machine and wall time.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from hf_knowgpt.data.formats import QUESTION
from hf_knowgpt.data.readers import read_corpus, read_qa
from hf_knowgpt.evaluation.answers import load_model, predict
from hf_knowgpt.evaluation.probe import probe_file, storage_cases, stored
from hf_knowgpt.evaluation.stats import interval, percent, share
from hf_knowgpt.lab.runner import COMMON, Started, cli_flags, run, write_result
from hf_knowgpt.training.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, dict] = {  # name -> finetuning overrides on top of the recipe
    "course": {},
    "epochs_2": {"num_epochs": 2},
    "epochs_3": {"num_epochs": 3},
    "epochs_5": {"num_epochs": 5},
    "epochs_20": {"num_epochs": 20},
    "lr_1e-4": {"learning_rate": 1e-4},
    "lr_1.5e-4": {"learning_rate": 1.5e-4},
    "lr_1.5e-4_epochs_5": {"learning_rate": 1.5e-4, "num_epochs": 5},
    "lr_2e-4": {"learning_rate": 2e-4},
    "lr_3e-4": {"learning_rate": 3e-4},
    "lr_3e-4_epochs_5": {"learning_rate": 3e-4, "num_epochs": 5},
    "lr_6e-4": {"learning_rate": 6e-4},
    "lr_1.2e-3": {"learning_rate": 1.2e-3},
    "no_dropout": {"dropout": 0.0},
    # Finetuning that cannot overwrite part of what pretraining stored (`--freeze`).
    "freeze_embeddings": {"freeze": "embeddings"},
    "freeze_mlp": {"freeze": "mlp"},
    "freeze_lower_half": {"freeze": "lower_half"},
    "freeze_mlp_lr_1.5e-4": {"freeze": "mlp", "learning_rate": 1.5e-4},
    # LoRA adapters (peft) on every Linear of the blocks; adapters want a larger learning rate.
    "lora_16_lr_1e-3": {"lora_rank": 16, "learning_rate": 1e-3},
    "lora_16_lr_3e-3": {"lora_rank": 16, "learning_rate": 3e-3},
    # Question-form augmentation: each train pair in all five phrasings (data/formats.py), 5x the
    # steps per epoch; with 2 epochs, as many steps as the recipe's 10.
    "questions_5": {"question_forms": 5},
    "questions_5_epochs_2": {"question_forms": 5, "num_epochs": 2},
}


def stored_names(model_dir: str, corpus_file: Path, pairs) -> dict[str, bool]:
    """Name -> whether the pretrained model completes that person's biography with the place."""
    model, tokenizer = load_model(model_dir)
    cases = storage_cases(read_corpus(corpus_file), pairs, model.config.block_size)
    return {c.name: hit for c, hit in zip(cases, stored(model, tokenizer, cases), strict=True)}


def _share(hits: list[bool]) -> dict:
    return {"accuracy": sum(hits) / max(len(hits), 1), "correct": sum(hits), "total": len(hits)}


def score_split(model_dir: Path, pairs, is_stored: dict[str, bool]) -> dict:
    """Dev accuracy overall, on stored people, on probed-but-not-stored people, and on the unprobed."""
    model, tokenizer = load_model(model_dir)
    answers = predict(model, tokenizer, [q for q, _ in pairs])
    groups: dict[str, list[bool]] = {"all": [], "stored": [], "not_stored": [], "not_probed": []}
    for prediction, (question, place) in zip(answers, pairs, strict=True):
        name = QUESTION.fullmatch(question).group(1)
        prediction.reference = place
        hit = prediction.correct  # the exact match that the accuracy metric counts
        groups["all"].append(hit)
        if name not in is_stored:
            groups["not_probed"].append(hit)
        else:
            groups["stored" if is_stored[name] else "not_stored"].append(hit)
    return {key: _share(hits) for key, hits in groups.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrained_model", required=True)
    p.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data" / "cs224n"))
    p.add_argument("--recipe", default="cs224n_fast", choices=sorted(RECIPES))
    p.add_argument(
        "--settings",
        default="course,epochs_5,epochs_20,lr_3e-4,lr_1.2e-3,no_dropout",
        help=f"comma-separated names, of {', '.join(SETTINGS)}",
    )
    p.add_argument("--output", required=True, help="path without extension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    a = p.parse_args()
    unknown = set(a.settings.split(",")) - set(SETTINGS)
    if unknown:
        p.error(f"unknown settings {sorted(unknown)}; choose from {sorted(SETTINGS)}")
    if a.threads:
        torch.set_num_threads(a.threads)  # the probe and the scoring too, not only the finetunings
    started = Started()
    data = Path(a.data_dir)
    dev = data / "birth_dev.tsv"
    pairs = read_qa(dev, require_answers=True)
    is_stored = stored_names(a.pretrained_model, data / "wiki.txt", pairs)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in a.settings.split(","):
            finetuned = run(
                "finetune", a.recipe, **COMMON, **SETTINGS[name], data_dir=a.data_dir,
                pretrained_model=a.pretrained_model, seed=a.seed, output_dir=f"{work}/{name}",
                threads=a.threads,
            )  # fmt: skip
            info = finetuned.run_info
            result = score_split(finetuned.model_dir, pairs, is_stored)
            after = {  # what the finetuned model still stores, by both probes
                key: probe_file(finetuned.model_dir, data / "wiki.txt", dev, cloze=cloze)
                for key, cloze in (("storage_after", False), ("cloze_storage_after", True))
            }
            rows.append(
                {
                    "setting": name,
                    "flags": " ".join(cli_flags(a.recipe, SETTINGS[name])[2:]) or "(the recipe's)",
                    "epochs": info["epochs"],
                    "steps": info["steps"],
                    "train_minutes": info["train_minutes"],
                    **result,
                    **after,
                }
            )
            print(f"{name}: {100 * result['all']['accuracy']:.1f} % dev", flush=True)
            _write(a, rows, is_stored, started.provenance())


def _write(a, rows: list[dict], is_stored: dict[str, bool], prov: dict) -> None:
    n_stored = sum(is_stored.values())

    def kept(r: dict) -> str:
        return f"{percent(r['storage'])} ({r['stored']}/{r['probed']})"

    table = "\n".join(
        f"| {r['setting']} | `{r['flags']}` | {r['epochs']:g} | {r['train_minutes']:g} | {share(r['all'])} "
        f"| {interval(r['all'])} | {share(r['stored'])} | {share(r['not_stored'])} "
        f"| {share(r['not_probed'])} | {kept(r['storage_after'])} | {kept(r['cloze_storage_after'])} |"
        for r in rows
    )
    payload = {
        "pretrained_model": a.pretrained_model,
        "recipe": a.recipe,
        "dev_probed": len(is_stored),
        "dev_stored": n_stored,
        "rows": rows,
    }
    markdown = (
        f"# Extraction: finetuning `{a.pretrained_model}` (recipe `{a.recipe}`)\n\n"
        f"The pretrained model completes {n_stored} of the {len(is_stored)} probed dev people's "
        "biographies with the birth place (stored); the other dev people could not be probed (no "
        "biography starting with the name that mentions the place within a block).\n\n"
        "| setting | flags | epochs | finetuning minutes | dev accuracy | 95 % interval (Wilson) "
        "| on stored people | on probed, not stored | on not probed | stored after finetuning: "
        "continues the biography | fills in the blank |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"{table}\n\nThe pretraining's minutes and machine are the pretrained model's (its run_info.json); "
        "the finetunings ran on the machine below."
    )
    write_result(a.output, payload, markdown, prov)


if __name__ == "__main__":
    main()
