"""Score a pretraining run and its finetuning on dev, with both storage probes, into one result file.

    python scripts/score_run_pair.py --pretrain_run RUN_PRE --finetune_run RUN_FT \\
        --data_dir ../shared/data/cs224n --output results/mixed_training/NAME --what "one line"

For each of the two models: `knowgpt evaluate`'s exact match on birth_dev.tsv with its 95 % interval,
and the storage probes of `knowgpt probe` on the dev people (continues the biography; fills in the
blank). Each run's recipe, command, commit, machine, minutes, steps and epochs come from its
run_info.json. Writes OUTPUT.json and OUTPUT.md with this script's provenance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_knowgpt.evaluation.scoring import evaluate_file, london_baseline
from hf_knowgpt.evaluation.stats import interval, share, wilson_interval
from hf_knowgpt.hub.publish import locate_run
from hf_knowgpt.lab.demo import dev_storage
from hf_knowgpt.lab.runner import Run, Started, write_result

MODEL_FACTS = ("attention_type", "bottleneck_dim", "n_layer", "n_embd", "n_head", "block_size")


def run_facts(run: Path) -> dict:
    model_dir, run_dir = locate_run(run)
    if run_dir is None:
        raise SystemExit(f"{run}: not a training run (no run_info.json)")
    loaded = Run.load(run_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return {
        **loaded.facts(),
        **{k: loaded.run_info.get(k) for k in ("mixed_precision", "muon_newton_schulz")},
        "model": {k: config.get(k) for k in MODEL_FACTS},
    }


def score_model(run: Path, data_dir: Path) -> dict:
    dev = evaluate_file(run, data_dir / "birth_dev.tsv")
    dev["ci95"] = list(wilson_interval(dev["correct"], dev["total"]))
    keep = ("accuracy", "correct", "total", "ci95", "course_line")
    return {"dev": {k: dev[k] for k in keep}, **dev_storage(Path(run), data_dir)}


def _stored(r: dict | None) -> str:
    """A storage probe's share, as `share` writes an accuracy (`-` where nothing could be probed)."""
    return (
        "-"
        if r is None
        else share({"accuracy": r["storage"], "correct": r["stored"], "total": r["probed"]})
    )


def markdown(what: str, stages: dict[str, dict], london: dict) -> str:
    rows = [
        f"| {stage} | {s['run']['train_minutes']} min, {s['run']['steps']} steps | "
        f"**{share(s['dev'])}** ({interval(s['dev'])}) | {_stored(s['storage'])} | "
        f"{_stored(s['cloze_storage'])} |"
        for stage, s in stages.items()
    ]
    commands = [f"{stage.capitalize()}: `{s['run']['command']}`  " for stage, s in stages.items()]
    return "\n".join(
        [
            f"# {what}",
            "",
            "| model | training | dev accuracy (95 % interval) | dev storage: continues the "
            "biography | dev storage: fills in the blank |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"London baseline: {share(london)}. Dev accuracy: `knowgpt evaluate`'s exact match on "
            "birth_dev.tsv; storage: `knowgpt probe` (and `--cloze`) on the dev people.",
            "",
            *commands,
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrain_run", type=Path, required=True)
    p.add_argument("--finetune_run", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True, help="wiki.txt and birth_dev.tsv")
    p.add_argument("--output", type=Path, required=True, help="result path without extension")
    p.add_argument("--what", required=True, help="the result's title: what was trained, where")
    a = p.parse_args()
    started = Started()
    stages = {
        stage: {"run": run_facts(run), **score_model(run, a.data_dir)}
        for stage, run in (("pretrained", a.pretrain_run), ("finetuned", a.finetune_run))
    }
    london = london_baseline(a.data_dir / "birth_dev.tsv")
    payload = {"what": a.what, **stages, "london": london}
    write_result(a.output, payload, markdown(a.what, stages, london), started.provenance())
    for stage, s in stages.items():
        print(f"{stage}: dev {share(s['dev'])}, continues {_stored(s['storage'])}, "
              f"fills in {_stored(s['cloze_storage'])}")  # fmt: skip


if __name__ == "__main__":
    main()
