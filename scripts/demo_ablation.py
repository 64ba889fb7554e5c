"""One arm of a demo-design ablation (issue #20): the demo's corpus, model and recipe, with pretraining
flags changed, scored on dev after finetuning, beside both storage probes of the pretrained model.

    python scripts/demo_ablation.py --output results/demo_diagnostics/mix_qa_200 --work_dir runs/abl \\
        --n_people 200 --variants 4 --pretrain_minutes 8 -- --mix_qa

Flags after `--` go to the pretraining (`knowgpt pretrain --recipe demo` flags). Writes OUTPUT.json
and OUTPUT.md with the command, commit, date, machine and wall time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_knowgpt.evaluation.stats import interval, percent, share
from hf_knowgpt.lab.demo import GENERATION, MODEL, dev_storage, make_corpus
from hf_knowgpt.lab.runner import COMMON, Started, evaluate_run, parse_flags, run, write_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="path without extension")
    p.add_argument("--work_dir", required=True, help="corpus and runs")
    p.add_argument("--n_people", type=int, default=GENERATION["n_people"])
    p.add_argument("--variants", type=int, default=GENERATION["variants"])
    p.add_argument("--pretrain_minutes", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("pretrain_flags", nargs=argparse.REMAINDER)
    a = p.parse_args()
    flags = a.pretrain_flags[1:] if a.pretrain_flags[:1] == ["--"] else a.pretrain_flags
    started, work = Started(), Path(a.work_dir)
    data = work / "data"
    make_corpus(
        data, a.n_people, a.variants, GENERATION["train_share"], GENERATION["full_names"], a.seed
    )
    common = {"data_dir": data, "seed": a.seed, **COMMON, **MODEL}
    pre = run("pretrain", "demo", **common, output_dir=work / "pretrain",
              max_minutes=a.pretrain_minutes, **parse_flags("pretrain", flags))  # fmt: skip
    fine = run(
        "finetune", "demo", **common, output_dir=work / "finetune", pretrained_model=pre.output_dir
    )
    dev = data / "birth_dev.tsv"
    scored = evaluate_run(fine, dev, "dev_predictions.txt")
    result = {"n_people": a.n_people, "variants": a.variants, "pretrain_flags": flags,
              "pretrain_minutes": pre.run_info["train_minutes"], "pretrain_epochs": pre.run_info["epochs"],
              "dev": {k: scored[k] for k in ("accuracy", "correct", "total")}}  # fmt: skip
    for key, probe in dev_storage(pre.model_dir, data).items():
        result[key] = None if probe is None else probe["storage"]
    markdown = (
        f"# Demo ablation: `{' '.join(flags) or '(the demo recipe)'}`\n\n"
        f"{a.n_people} synthetic people x {a.variants} biographies, {result['pretrain_minutes']} min of "
        f"pretraining ({result['pretrain_epochs']} epochs), the demo's finetuning.\n\n"
        f"Dev accuracy {share(result['dev'])}, 95 % interval {interval(result['dev'])}; the pretrained "
        f"model continues {percent(result['storage'])} of dev biographies with the place and fills "
        f"{percent(result['cloze_storage'])} of the blanks."
    )
    write_result(a.output, result, markdown, started.provenance())
    print(markdown)


if __name__ == "__main__":
    main()
