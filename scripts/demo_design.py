"""Demo design exploration (#20): one arm, its corpus, model, pretraining and finetuning given as JSON.

    python scripts/demo_design.py NAME '{"gen": {...}, "model": {...}, "pre": {...}, "ft": {...}}'

Writes runs/demo_design/NAME/result.json: pretrained-only and finetuned dev accuracy, both storage
probes, and the provenance (command, commit, date, machine, wall time).
"""

import json
import sys
import time
from pathlib import Path

from hf_knowgpt.data.synthetic import generate
from hf_knowgpt.lab.demo import dev_storage
from hf_knowgpt.lab.runner import COMMON, Started, evaluate_run, run, write_result

started = Started()
name, cfg = sys.argv[1], json.loads(sys.argv[2])
out = Path("runs/demo_design") / name
t0 = time.time()
gen = {
    "n_people": 400,
    "n_train": 200,
    "n_dev": 200,
    "n_unseen": 0,
    "seed": 0,
    "variants": 1,
    "full_names": True,
    **cfg.get("gen", {}),
}
data = out / "data"
generate(data, **gen)
common = {
    "data_dir": data,
    "seed": gen["seed"],
    **COMMON,
    "n_embd": 128,
    "n_head": 4,
    **cfg.get("model", {}),
    "threads": cfg.get("threads", 1),
}
pre = run("pretrain", "demo", **common, output_dir=out / "pretrain", **cfg.get("pre", {}))
dev = data / "birth_dev.tsv"
res = {
    "cfg": cfg,
    "gen": gen,
    "pre_minutes": pre.run_info["train_minutes"],
    "pre_epochs": pre.run_info["epochs"],
}
r = evaluate_run(pre, dev, "dev_predictions.txt")
res["pre_dev"] = r["correct"]
res.update({k: (v or {}).get("storage") for k, v in dev_storage(pre.model_dir, data).items()})
t1 = time.time()
ft = run(
    "finetune",
    "demo",
    **common,
    output_dir=out / "finetune",
    pretrained_model=pre.output_dir,
    **cfg.get("ft", {}),
)
r = evaluate_run(ft, dev, "dev_predictions.txt")
res["ft_dev"] = r["correct"]
res["total"] = r["total"]
res["ft_minutes"] = ft.run_info["train_minutes"]
res.update(
    {"ft_" + k: (v or {}).get("storage") for k, v in dev_storage(ft.model_dir, data).items()}
)
if cfg.get("scratch"):
    sc = run("finetune", "demo", **common, output_dir=out / "scratch", **cfg.get("ft_scratch", {}))
    res["scratch_dev"] = evaluate_run(sc, dev, "dev_predictions.txt")["correct"]
res["wall_s"] = round(time.time() - t0)
print("RESULT", name, json.dumps(res))
write_result(out / "result", res, None, started.provenance())
