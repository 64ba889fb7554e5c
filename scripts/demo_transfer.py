"""Does the demo's recipe transfer? `knowgpt demo --data_dir` on synthetic corpora it was not tuned on.

    python scripts/demo_transfer.py --output results/demo_transfer.json [--runs_dir DIR]

Each corpus comes from `synthetic.generate` with its own seed, and differs from the demo's built-in
one in its wording (`templates="alt"`, written apart from the default), its biographies per person
(down to one, as in the course's wiki.txt), its names (surnames only after the first mention) and its
biographies' length (the generator's default extra sentences, not the demo's compact ones). Each is
then run through the unchanged demo (`run_demo(data_dir=...)`): same recipe, model and defaults.
A corpus whose demo already finished in DIR is read, not rerun.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_knowgpt.data.synthetic import generate
from hf_knowgpt.lab.demo import run_demo
from hf_knowgpt.lab.runner import Started, write_result

CORPORA = {
    "alt wording, 4 biographies": dict(seed=101, templates="alt", variants=4, full_names=True),
    "default wording, 2 biographies": dict(seed=102, templates="default", variants=2),
    "alt wording, 1 biography": dict(seed=103, templates="alt", variants=1),
}
"""Each corpus's `generate` arguments besides its size (people, train, dev: `--n_people`)."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs_dir", type=Path, default=Path("runs/demo_transfer"))
    p.add_argument("--output", type=Path, default=Path("results/demo_transfer.json"))
    p.add_argument("--n_people", type=int, default=300, help="a third train, the rest dev")
    demo = p.add_argument_group("passed to every demo (default: the demo's)")
    demo.add_argument("--pretrain_minutes", type=float)
    demo.add_argument("--finetune_epochs", type=int)
    a = p.parse_args()
    given = {k: getattr(a, k) for k in ("pretrain_minutes", "finetune_epochs")}
    given = {k: v for k, v in given.items() if v is not None}
    n_train = a.n_people // 3
    started = Started()
    results = {}
    for i, (name, spec) in enumerate(CORPORA.items()):
        out = a.runs_dir / f"corpus_{i}"
        done = out / "demo_results.json"
        if not done.exists():
            data = out.with_name(f"corpus_{i}_data")
            generate(data, n_people=a.n_people, n_train=n_train, n_dev=a.n_people - n_train,
                     n_unseen=0, **spec)  # fmt: skip
            run_demo(str(out), data_dir=str(data), **given)
        result = json.loads(done.read_text())
        rows = result["rows"]
        gain = rows["pretrained + finetuned"]["accuracy"] - rows["finetuned without pretraining"]["accuracy"]  # fmt: skip
        results[name] = {"generate": {"n_people": a.n_people, "n_train": n_train, **spec},
                         "rows": rows, "gain_points": round(100 * gain, 1),
                         "p_value_pretraining_helps": result["p_value_pretraining_helps"],
                         "pretrain_epochs": result["pretrain_epochs"],
                         "wall_seconds": result["provenance"]["wall_seconds"]}  # fmt: skip
    names = list(next(iter(results.values()))["rows"])
    table = "\n".join(
        ["| corpus | " + " | ".join(names) + " | pretraining's gain (points) | Fisher p |",
         "|---|" + "---|" * len(names) + "---|---|"]
        + [f"| {c} | " + " | ".join(f"{100 * r['rows'][n]['accuracy']:.1f} % "
                                     f"({r['rows'][n]['correct']}/{r['rows'][n]['total']})"
                                     for n in names)
           + f" | {r['gain_points']} | {r['p_value_pretraining_helps']:.2g} |"
           for c, r in results.items()]
    )  # fmt: skip
    write_result(
        a.output.with_suffix(""),
        {"demo_arguments": given, "corpora": results},
        f"# The demo's recipe on corpora it was not tuned on\n\n{table}\n\n"
        "Each corpus: `synthetic.generate` with the arguments in the JSON, then `knowgpt demo "
        "--data_dir` unchanged. Pretraining's gain: pretrained + finetuned minus finetuned without "
        "pretraining; Fisher p: one-sided exact test of the same. Wall seconds per demo: "
        + ", ".join(f"{c}: {r['wall_seconds']:.0f}" for c, r in results.items())
        + ".",
        started.provenance(),
    )
    print(table)


if __name__ == "__main__":
    main()
