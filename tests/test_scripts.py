"""The scripts folder: `python scripts/x.py` puts scripts/ first on sys.path, so no script may shadow a library."""

import json
import shutil
import subprocess
import sys
from importlib.machinery import PathFinder
from pathlib import Path

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DEPENDENCIES = {
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "evaluate",
    "huggingface_hub",
    "safetensors",
    "tensorboard",
    "tqdm",
    "numpy",
    "matplotlib",
    "hf_knowgpt",
}


def test_no_script_shadows_an_installed_module():
    names = {p.stem for p in SCRIPTS.glob("*.py")}
    assert not names & DEPENDENCIES
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != SCRIPTS]
    assert not [
        n for n in names if n in sys.builtin_module_names or PathFinder.find_spec(n, elsewhere)
    ]


def test_job_scripts_exist_for_accelerate_launch():
    for job in ("pretrain", "finetune", "evaluate_model", "baseline", "demo"):
        assert (SCRIPTS / f"{job}.py").is_file()


def test_plot_loss_curves_finds_where_each_run_leaves_the_plateau(tmp_path):
    def metrics(name, losses):
        path = tmp_path / f"{name}.metrics.jsonl"
        rows = [
            {"step": 10 * i, "epoch": 5.0 * i, "loss": loss} for i, loss in enumerate(losses, 1)
        ]
        rows.insert(1, {"step": 15, "dev_accuracy": 0.1})  # an evaluation record: no loss, skipped
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return f"{name}={path}"

    out = tmp_path / "curves"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "plot_loss_curves.py"),
            "--output",
            str(out),
            metrics("escapes", [3.5, 2.6, 2.5, 2.3, 1.9]),  # epochs 5..25; below 2.4 at 20
            metrics("stuck", [2.3, 2.6, 2.6, 2.5, 2.5]),  # 2.3 at epoch 5 does not count
        ],
        check=True,
        capture_output=True,
    )
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert runs["escapes"]["plateau_left_at_epoch"] == 20.0
    assert runs["escapes"]["last"] == {"epoch": 25.0, "loss": 1.9}
    assert runs["stuck"]["plateau_left_at_epoch"] is None
    assert runs["escapes"]["loss_at_epoch"] == {"15": 2.5}  # only epochs logged within 3 of a mark
    assert out.with_suffix(".png").stat().st_size > 0


def test_extraction_sweep_splits_dev_by_what_pretraining_stored(tmp_path, hf_env, tiny_data_dir):
    data = shutil.copytree(tiny_data_dir, tmp_path / "data")
    wiki = (data / "wiki.txt").read_text(encoding="utf-8").splitlines()
    every = SCRIPTS.parent / "hf_knowgpt" / "data" / "corpus" / "birth_places_train.tsv"
    train = every.read_text(encoding="utf-8").splitlines()
    # "dev": the train people whose biography is in the corpus and names the place, so some are probed
    probed = [
        line
        for line in train
        if any(
            w.startswith(line[10 : line.index(" born?")]) and line.split("\t")[1] in w for w in wiki
        )
    ]
    assert len(probed) >= 5
    (data / "birth_dev.tsv").write_text("\n".join(probed) + "\n", encoding="utf-8")
    tokenizer = KnowGPTTokenizer.from_corpus(data / "wiki.txt")
    config = KnowGPTConfig(vocab_size=len(tokenizer), n_layer=1, n_embd=16, n_head=2, block_size=64)
    KnowGPTForCausalLM(config).save_pretrained(tmp_path / "pre")
    tokenizer.save_pretrained(tmp_path / "pre")
    out = tmp_path / "sweep"
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "extraction_sweep.py"),
            "--pretrained_model",
            str(tmp_path / "pre"),
            "--data_dir",
            str(data),
            "--settings",
            "epochs_2,no_dropout",
            "--output",
            str(out),
        ],
        env=hf_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    d = json.loads(out.with_suffix(".json").read_text())
    assert [r["setting"] for r in d["rows"]] == ["epochs_2", "no_dropout"]
    assert d["rows"][0]["epochs"] == 2
    for r in d["rows"]:
        groups = [r[k]["total"] for k in ("stored", "not_stored", "not_probed")]
        assert sum(groups) == r["all"]["total"] == len(probed)  # each question in one group
        assert r["stored"]["total"] + r["not_stored"]["total"] == d["dev_probed"] > 0
    assert "| epochs_2 | `--num_epochs 2` | 2 |" in out.with_suffix(".md").read_text()
    bad = subprocess.run(
        [sys.executable, str(SCRIPTS / "extraction_sweep.py"), "--pretrained_model", "x",
         "--output", str(out), "--settings", "nope"],
        env=hf_env, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown settings ['nope']" in bad.stderr
