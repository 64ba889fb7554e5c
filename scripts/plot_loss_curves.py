"""Training loss against epoch for several runs (their `metrics.jsonl`), with the epoch where each
leaves the course's early plateau (first logged loss below `--plateau`, after epoch 5).

    python scripts/plot_loss_curves.py --output results/cs224n_gpu_runs/pretrain_loss \\
        "vanilla=results/cs224n_gpu_runs/table_vanilla_pretrain.metrics.jsonl" ...

Writes OUTPUT.png and OUTPUT.json (per run: the plateau's end, the loss at chosen epochs, the last loss;
and the command, commit, date and machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hf_knowgpt.utils import atomic_write_json, provenance

EPOCHS = (15, 50, 100, 200, 300, 400, 500, 650)


def read(path: str) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if "loss" in r and "epoch" in r]


def summary(rows: list[dict], plateau: float) -> dict:
    left = next((r["epoch"] for r in rows if r["epoch"] > 5 and r["loss"] < plateau), None)
    nearest = {e: min(rows, key=lambda r: abs(r["epoch"] - e)) for e in EPOCHS}
    return {
        "plateau_left_at_epoch": left,
        "loss_at_epoch": {
            str(e): round(r["loss"], 3) for e, r in nearest.items() if abs(r["epoch"] - e) < 3
        },
        "last": {"epoch": rows[-1]["epoch"], "loss": rows[-1]["loss"]},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="NAME=METRICS_JSONL")
    p.add_argument("--output", required=True, help="path without extension")
    p.add_argument("--plateau", type=float, default=2.4)
    p.add_argument("--title", default="pretraining loss (mean over each logging interval)")
    a = p.parse_args()
    start = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    out = {}
    for item in a.runs:
        name, path = item.split("=", 1)
        rows = read(path)
        out[name] = {"metrics": path, **summary(rows, a.plateau)}
        ax.plot([r["epoch"] for r in rows], [r["loss"] for r in rows], label=name, lw=1.2)
    ax.axhline(a.plateau, color="grey", ls=":", lw=0.8)
    ax.set(xlabel="epoch", ylabel="training loss", title=a.title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.output + ".png", dpi=120)
    atomic_write_json(
        a.output + ".json",
        {
            "plateau_loss": a.plateau,
            "runs": out,
            "provenance": provenance(time.perf_counter() - start),
        },
    )
    for name, s in out.items():
        print(
            f"{name}: leaves {a.plateau} at epoch {s['plateau_left_at_epoch']}, last loss {s['last']['loss']:.3f}"
        )


if __name__ == "__main__":
    main()
