"""Finetune a released pretrained model with its recipe's finetuning and compare with the released
finetuned model's dev accuracy (it should reproduce within ±3 points).

    python scripts/reproduce_release.py --name knowgpt-vanilla-cpu2h --data_dir ../shared/data/cs224n

Writes results/releases/NAME_reproduction.json (both accuracies, the difference, provenance).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hf_knowgpt.hub.released import MODELS_DIR, read_index
from hf_knowgpt.lab.runner import Started, cli_flags, evaluate_run, run, write_result

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--data_dir", type=Path, required=True)
    p.add_argument("--tolerance", type=float, default=0.03)
    a = p.parse_args()
    started = Started()
    entries = {e["name"]: e for e in read_index()}
    released = entries[f"{a.name}-finetuned"]
    pretrained = MODELS_DIR / f"{a.name}-pretrained"
    with tempfile.TemporaryDirectory() as work:
        recorded = {"pretrained_model": pretrained, "data_dir": a.data_dir}  # what to rerun it
        finetuned = run(
            "finetune", released["recipe"], **recorded, output_dir=f"{work}/ft", report_to="none"
        )
        dev = evaluate_run(finetuned, a.data_dir / "birth_dev.tsv")
    diff = dev["accuracy"] - released["dev_accuracy"]
    record = {
        "released": {"name": released["name"], "dev_accuracy": released["dev_accuracy"]},
        "reproduced": {k: dev[k] for k in ("accuracy", "correct", "total")},
        "difference": diff,
        "within_tolerance": abs(diff) <= a.tolerance,
        "finetune_flags": cli_flags(released["recipe"], recorded),
    }
    path = ROOT / "results" / "releases" / f"{a.name}_reproduction"
    write_result(path, record, None, started.provenance())
    print(f"released {100 * released['dev_accuracy']:.1f} %, reproduced {100 * dev['accuracy']:.1f} % "
          f"({dev['correct']}/{dev['total']}): difference {100 * diff:+.1f} points")  # fmt: skip
    raise SystemExit(0 if record["within_tolerance"] else 1)


if __name__ == "__main__":
    main()
