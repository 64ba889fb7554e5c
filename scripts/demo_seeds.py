"""The demo under several seeds, one after the other: each row's dev accuracy per seed, and the spread.

    python scripts/demo_seeds.py --seeds 0 1 2 --output results/demo_seeds.json [--runs_dir DIR]

Each seed is `knowgpt demo --seed S --output_dir DIR/seed_S` with the demo's defaults (the seed
draws the corpus and the training). A seed whose demo already finished in DIR is read, not rerun.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_knowgpt.lab.demo import run_demo
from hf_knowgpt.lab.runner import Started, write_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--runs_dir", type=Path, default=Path("runs/demo_seeds"))
    p.add_argument("--output", type=Path, default=Path("results/demo_seeds.json"))
    demo = p.add_argument_group("passed to every demo (default: the demo's)")
    demo.add_argument("--pretrain_minutes", type=float)
    demo.add_argument("--finetune_epochs", type=int)
    demo.add_argument("--n_people", type=int)
    a = p.parse_args()
    given = {k: getattr(a, k) for k in ("pretrain_minutes", "finetune_epochs", "n_people")}
    given = {k: v for k, v in given.items() if v is not None}
    started = Started()
    per_seed = {}
    for seed in a.seeds:
        out = a.runs_dir / f"seed_{seed}"
        done = out / "demo_results.json"
        result = (
            json.loads(done.read_text())
            if done.exists()
            else run_demo(str(out), seed=seed, **given)
        )
        per_seed[seed] = result
    names = list(per_seed[a.seeds[0]]["rows"])
    rows = {}
    for name in names:
        accs = {s: r["rows"][name]["accuracy"] for s, r in per_seed.items()}
        rows[name] = {
            "accuracy_by_seed": accs,
            "correct_by_seed": {s: r["rows"][name]["correct"] for s, r in per_seed.items()},
            "total": per_seed[a.seeds[0]]["rows"][name]["total"],
            "spread_points": round(100 * (max(accs.values()) - min(accs.values())), 1),
        }
    walls = {s: r["provenance"]["wall_seconds"] for s, r in per_seed.items()}
    table = "\n".join(
        ["| model | " + " | ".join(f"seed {s}" for s in a.seeds) + " | spread (points) |",
         "|---|" + "---|" * len(a.seeds) + "---|"]
        + [f"| {n} | " + " | ".join(f"{100 * r['accuracy_by_seed'][s]:.1f} % "
                                     f"({r['correct_by_seed'][s]}/{r['total']})" for s in a.seeds)
           + f" | {r['spread_points']} |" for n, r in rows.items()]
    )  # fmt: skip
    write_result(
        a.output.with_suffix(""),
        {
            "seeds": a.seeds,
            "demo_arguments": given,
            "rows": rows,
            "demo_wall_seconds": walls,
            "demo_provenance": {s: r["provenance"] for s, r in per_seed.items()},
        },  # fmt: skip
        f"# knowgpt demo, seeds {', '.join(map(str, a.seeds))}\n\n{table}\n\n"
        "Each seed draws its own corpus and training; wall seconds per demo: "
        + ", ".join(f"seed {s}: {w:.0f}" for s, w in walls.items())
        + ".",
        started.provenance(),
    )
    print(table)


if __name__ == "__main__":
    main()
