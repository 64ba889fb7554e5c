"""Finetune a released pretrained model with its recipe's finetuning and compare with the released
finetuned model's dev accuracy (it should reproduce within ±3 points).

    python scripts/reproduce_release.py --name knowgpt-vanilla-cpu2h --data_dir ../shared/data/cs224n

Writes results/releases/NAME_reproduction.json (both accuracies, the difference, provenance).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hf_knowgpt.evaluation.scoring import evaluate_file
from hf_knowgpt.hub.released import MODELS_DIR, read_index
from hf_knowgpt.training import parse_args, train
from hf_knowgpt.utils import atomic_write_json, provenance

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--data_dir", type=Path, required=True)
    p.add_argument("--tolerance", type=float, default=0.03)
    a = p.parse_args()
    t0 = time.perf_counter()
    entries = {e["name"]: e for e in read_index()}
    released = entries[f"{a.name}-finetuned"]
    with tempfile.TemporaryDirectory() as work:
        flags = ["--recipe", released["recipe"], "--pretrained_model", str(MODELS_DIR / f"{a.name}-pretrained"),
                 "--data_dir", str(a.data_dir), "--output_dir", f"{work}/ft", "--report_to", "none"]  # fmt: skip
        run = train("finetune", *parse_args("finetune", flags))
        dev = evaluate_file(run / "model", a.data_dir / "birth_dev.tsv", None)
    diff = dev["accuracy"] - released["dev_accuracy"]
    record = {
        "released": {"name": released["name"], "dev_accuracy": released["dev_accuracy"]},
        "reproduced": {k: dev[k] for k in ("accuracy", "correct", "total")},
        "difference": diff,
        "within_tolerance": abs(diff) <= a.tolerance,
        "finetune_flags": flags[:4] + flags[6:8],
        "provenance": provenance(time.perf_counter() - t0),
    }
    atomic_write_json(ROOT / "results" / "releases" / f"{a.name}_reproduction.json", record)
    print(f"released {100 * released['dev_accuracy']:.1f} %, reproduced {100 * dev['accuracy']:.1f} % "
          f"({dev['correct']}/{dev['total']}): difference {100 * diff:+.1f} points")  # fmt: skip
    raise SystemExit(0 if record["within_tolerance"] else 1)


if __name__ == "__main__":
    main()
