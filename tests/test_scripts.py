"""The scripts folder: `python scripts/x.py` puts scripts/ first on sys.path, so no script may shadow a library."""

import json
import shutil
import subprocess
import sys
from importlib.machinery import PathFinder
from pathlib import Path

import pytest
import torch

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


def _probed_dev(tiny_data_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the tiny data whose "dev" is the train people whose biography is in the corpus and
    names the place, so that the storage probe has cases."""
    data = shutil.copytree(tiny_data_dir, tmp_path / "data")
    wiki = (data / "wiki.txt").read_text(encoding="utf-8").splitlines()
    every = SCRIPTS.parent / "hf_knowgpt" / "data" / "corpus" / "birth_places_train.tsv"
    train = every.read_text(encoding="utf-8").splitlines()
    probed = [
        line
        for line in train
        if any(
            w.startswith(line[10 : line.index(" born?")]) and line.split("\t")[1] in w for w in wiki
        )
    ]
    assert len(probed) >= 5
    (data / "birth_dev.tsv").write_text("\n".join(probed) + "\n", encoding="utf-8")
    return data, probed


def test_extraction_sweep_splits_dev_by_what_pretraining_stored(tmp_path, hf_env, tiny_data_dir):
    data, probed = _probed_dev(tiny_data_dir, tmp_path)
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
        for key in ("storage_after", "cloze_storage_after"):  # both probes of the finetuned model
            assert 0 < r[key]["probed"] <= len(probed) and 0 <= r[key]["storage"] <= 1
    markdown = out.with_suffix(".md").read_text()
    assert (
        "| epochs_2 | `--num_epochs 2` | 2 |" in markdown and "95 % interval (Wilson)" in markdown
    )
    bad = subprocess.run(
        [sys.executable, str(SCRIPTS / "extraction_sweep.py"), "--pretrained_model", "x",
         "--output", str(out), "--settings", "nope"],
        env=hf_env, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown settings ['nope']" in bad.stderr


def test_time_to_accuracy_follows_a_runs_checkpoints(
    tmp_path, hf_env, tiny_data_dir, reset_accelerate
):
    from hf_knowgpt.cli import main

    data, _ = _probed_dev(tiny_data_dir, tmp_path)
    tiny = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
            "--batch_size", "8", "--report_to", "none", "--data_dir", str(data)]  # fmt: skip
    run = tmp_path / "pre"
    assert (
        main(["pretrain", *tiny, "--max_steps", "4", "--save_steps", "2", "--output_dir", str(run)])
        == 0
    )
    steps = sorted(int(p.name.split("_")[1]) for p in (run / "checkpoints").glob("checkpoint_*"))
    assert steps == [2, 4]  # every second step, the last one the final weights

    def follow(*flags):
        return subprocess.run(
            [sys.executable, str(SCRIPTS / "time_to_accuracy.py"), "--recipe", "cs224n_fast",
             "--from_run", str(run), "--data_dir", str(data), "--work_dir", str(tmp_path / "work"),
             "--output_dir", str(tmp_path / "out"), *flags, "--", "--max_steps", "1", *tiny[:10]],
            env=hf_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    done = follow()
    assert done.returncode == 0, done.stderr[-2000:]
    d = json.loads((tmp_path / "out" / "cs224n_fast_vanilla_checkpoints.json").read_text())
    assert [p["step"] for p in d["points"]] == steps
    for p in d["points"]:
        assert 0 <= p["dev_storage"] <= 1 and 0 <= p["dev_cloze_storage"] <= 1
        assert p["train_minutes"] >= p["pretrain_minutes"] >= 0  # plus the finetuning's minutes
    assert (tmp_path / "out" / "cs224n_fast_vanilla_checkpoints.png").stat().st_size > 0

    # Checkpoints read with another model's config and vocabulary would give wrong points: refused.
    other = tmp_path / "other"
    shutil.copytree(run / "model", other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "n_head": 4}))
    refused = follow("--config_from", str(other), "--tag", "other")
    assert refused.returncode != 0 and "differs from the run's" in refused.stderr


@pytest.mark.slow
def test_reproduce_cs224n_writes_its_table_row_by_row(tmp_path, hf_env, tiny_data_dir):
    out = tmp_path / "cs224n"
    tiny = ["--max_steps", "1", "--n_layer", "1", "--n_embd", "16", "--n_head", "2",
            "--block_size", "64", "--batch_size", "8", "--threads", "1"]  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / "reproduce_cs224n.py"), "--data_dir", str(tiny_data_dir),
         "--variants", "vanilla", "--pretrain_minutes", "0", "--finetune_minutes", "0",
         "--work_dir", str(tmp_path / "work"), "--output", str(out), "--", *tiny],
        env=hf_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    d = json.loads(out.with_suffix(".json").read_text())
    assert [r["row"] for r in d["rows"]] == [
        "London baseline",
        "vanilla, no pretraining",
        "vanilla, pretrained + finetuned",
    ]
    assert d["rows_still_to_run"] == [] and list(d)[-1] == "provenance"
    assert (
        "finetune cs224n_fast: " in d["rows"][1]["budget"] and "1 steps" in d["rows"][1]["budget"]
    )
    assert (tmp_path / "work" / "vanilla_finetune" / "dev_predictions.txt").is_file()
    assert not (tmp_path / "work" / "vanilla_scratch" / "dev_predictions.txt").exists()
    assert "\nCommit: " in out.with_suffix(".md").read_text()


def test_time_to_accuracy_trains_its_own_curve(tmp_path, hf_env, tiny_data_dir):
    data, _ = _probed_dev(tiny_data_dir, tmp_path)
    tiny = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
            "--batch_size", "8", "--max_steps", "2"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "time_to_accuracy.py"), "--recipe", "cs224n_fast",
         "--minutes", "5", "--data_dir", str(data), "--work_dir", str(tmp_path / "work"),
         "--output_dir", str(tmp_path / "out"), "--", *tiny],
        env=hf_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    d = json.loads((tmp_path / "out" / "cs224n_fast_vanilla_5min.json").read_text())
    (point,) = d["points"]  # pretrain, then finetune: one point
    assert point["step"] == 2 and 0 <= point["dev_accuracy"] <= 1
    assert 0 <= point["dev_storage"] <= 1 and 0 <= point["dev_cloze_storage"] <= 1
    pre = json.loads(
        (tmp_path / "work" / "cs224n_fast_vanilla_5min" / "pretrain" / "run_info.json").read_text()
    )
    assert (
        pre["steps"] == 2 and pre["args"]["model"]["n_embd"] == 16
    )  # the flags after -- reached it


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_release_indexes_both_stages_and_can_keep_the_released_pretrained_model(
    tmp_path, hf_env, tiny_data_dir, reset_accelerate
):
    from hf_knowgpt.cli import main

    tiny = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
            "--batch_size", "8", "--report_to", "none", "--max_steps", "2", "--data_dir", str(tiny_data_dir)]  # fmt: skip
    assert main(["pretrain", "--output_dir", str(tmp_path / "pre"), *tiny]) == 0
    for ft, lr in (("ft", "6e-4"), ("ft2", "1e-3")):
        flags = ["--pretrained_model", str(tmp_path / "pre"), "--learning_rate", lr]
        assert main(["finetune", "--output_dir", str(tmp_path / ft), *tiny, *flags]) == 0
    models, results = tmp_path / "models", tmp_path / "results"

    def release(
        pretrain_run: Path, finetune_run: Path, *extra: str, models_dir: Path = models
    ) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(SCRIPTS / "release.py"), "--name", "tiny", "--pretrain_run",
               str(pretrain_run), "--finetune_run", str(finetune_run), "--data_dir", str(tiny_data_dir),
               "--hardware", "2 CPU cores, test", "--models_dir", str(models_dir), "--results_dir", str(results),
               *extra]  # fmt: skip
        proc = subprocess.run(cmd, env=hf_env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 or extra, proc.stderr[-2000:]
        return proc

    release(tmp_path / "pre", tmp_path / "ft")
    index = json.loads((models / "index.json").read_text())
    assert [(e["name"], e["stage"]) for e in index] == [
        ("tiny-pretrained", "pretrained"),
        ("tiny-finetuned", "finetuned"),
    ]
    card = (models / "tiny-finetuned" / "README.md").read_text()
    assert (
        "Dev accuracy, measured on this folder as shipped" in card and "2 CPU cores, test" in card
    )
    record = json.loads((results / "tiny.json").read_text())
    assert record["dev"]["accuracy"] == index[1]["dev_accuracy"] and record["dev"]["total"] == 40
    pretrained = _folder_bytes(models / "tiny-pretrained")
    first = _folder_bytes(models / "tiny-finetuned")

    release(models / "tiny-pretrained", tmp_path / "ft2")  # a new finetuning of the released model
    assert _folder_bytes(models / "tiny-pretrained") == pretrained  # as released, card included
    second = _folder_bytes(models / "tiny-finetuned")
    assert second["model.safetensors"] != first["model.safetensors"]
    assert second["README.md"].count(b"## This release") == 1
    again = json.loads((models / "index.json").read_text())
    assert [e["name"] for e in again] == ["tiny-pretrained", "tiny-finetuned"]
    assert again[0] == index[0]
    assert (
        json.loads((models / "tiny-finetuned" / "run_info.json").read_text())["learning_rate"]
        == 1e-3
    )
    # Listed under a recipe the runs were not trained with: one line naming the run, nothing written.
    before = _folder_bytes(models / "tiny-finetuned")
    proc = release(tmp_path / "pre", tmp_path / "ft", "--recipe", "cpu2h_mixed")
    assert proc.returncode != 0
    assert (
        f"{tmp_path / 'pre' / 'run_info.json'}: not trained as recipe 'cpu2h_mixed'" in proc.stderr
    )
    assert _folder_bytes(models / "tiny-finetuned") == before
    assert json.loads((models / "index.json").read_text()) == again
    # --finetuned_only: the finetuned folder and its entry alone, its card naming the pretraining.
    solo = tmp_path / "solo"
    release(tmp_path / "pre", tmp_path / "ft", "--finetuned_only", models_dir=solo)
    assert sorted(p.name for p in solo.iterdir()) == ["index.json", "tiny-finetuned"]
    assert [e["stage"] for e in json.loads((solo / "index.json").read_text())] == ["finetuned"]
    assert "| pretraining |" in (solo / "tiny-finetuned" / "README.md").read_text()


def test_demo_ablation_passes_its_flags_to_the_pretraining(tmp_path, hf_env):
    out, work = tmp_path / "abl", tmp_path / "work"
    cmd = [sys.executable, str(SCRIPTS / "demo_ablation.py"), "--output", str(out), "--work_dir", str(work),
           "--n_people", "50", "--variants", "2", "--", "--mix_qa", "--max_steps", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=hf_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["pretrain_flags"] == ["--mix_qa", "--max_steps", "2"]
    assert (
        result["dev"]["total"] == 50 - int(50 / 3) and 0 <= result["storage"] <= 1
    )  # the demo's dev: all but the train third
    info = json.loads((work / "pretrain" / "run_info.json").read_text())
    assert info["args"]["data"]["mix_qa"] is True and info["steps"] == 2
    assert "Commit:" in out.with_suffix(".md").read_text()


def test_demo_seeds_tabulates_each_seed_and_the_spread(tmp_path, hf_env):
    out = tmp_path / "seeds.json"
    cmd = [sys.executable, str(SCRIPTS / "demo_seeds.py"), "--seeds", "0", "1",
           "--runs_dir", str(tmp_path / "runs"), "--output", str(out),
           "--pretrain_minutes", "0.02", "--finetune_epochs", "1", "--n_people", "30"]  # fmt: skip
    proc = subprocess.run(cmd, env=hf_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    demos = [json.loads((tmp_path / "runs" / f"seed_{s}" / "demo_results.json").read_text())
             for s in (0, 1)]  # fmt: skip
    assert list(result["rows"]) == list(demos[0]["rows"])
    for name, row in result["rows"].items():
        accs = [d["rows"][name]["accuracy"] for d in demos]
        assert row["accuracy_by_seed"] == {"0": accs[0], "1": accs[1]}
        assert row["spread_points"] == round(100 * (max(accs) - min(accs)), 1)
    assert result["demo_arguments"]["n_people"] == 30 and out.with_suffix(".md").exists()


def test_demo_transfer_runs_the_demo_on_each_generated_corpus(tmp_path, hf_env):
    out = tmp_path / "transfer.json"
    cmd = [sys.executable, str(SCRIPTS / "demo_transfer.py"), "--runs_dir", str(tmp_path / "runs"),
           "--output", str(out), "--n_people", "30", "--pretrain_minutes", "0.02",
           "--finetune_epochs", "1"]  # fmt: skip
    proc = subprocess.run(cmd, env=hf_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    corpora = json.loads(out.read_text())["corpora"]
    assert len(corpora) == 3
    for i, (name, r) in enumerate(corpora.items()):
        demo = json.loads((tmp_path / "runs" / f"corpus_{i}" / "demo_results.json").read_text())
        assert demo["data_dir"] == str(tmp_path / "runs" / f"corpus_{i}_data")  # no generation step
        assert r["rows"] == demo["rows"] and r["rows"]["pretrained + finetuned"]["total"] == 20
        rows = r["rows"]
        gain = rows["pretrained + finetuned"]["accuracy"] - rows["finetuned without pretraining"]["accuracy"]  # fmt: skip
        assert r["gain_points"] == round(100 * gain, 1), name
    wiki = [(tmp_path / "runs" / f"corpus_{i}_data" / "wiki.txt").read_text().splitlines()
            for i in range(3)]  # fmt: skip
    assert [len(w) for w in wiki] == [120, 60, 30]  # 4, 2 and 1 biographies per person
    assert "Commit:" in out.with_suffix(".md").read_text()


def test_perceiver_reach_splits_the_loss_where_the_slots_stop(
    tmp_path, hf_env, tiny_data_dir, monkeypatch
):
    """Two untrained models, a Perceiver (m = 8) and vanilla: the script scores both on the same
    biographies, split at --at, and the split is the prediction position (tested by hand below)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from perceiver_reach import position_losses

    tokenizer = KnowGPTTokenizer.from_corpus(tiny_data_dir / "wiki.txt")
    dirs = []
    for attention_type in ("perceiver", "vanilla"):
        torch.manual_seed(0)
        config = KnowGPTConfig(
            vocab_size=tokenizer.vocab_size, n_layer=3, n_head=2, n_embd=16, block_size=64,
            attention_type=attention_type,
            bottleneck_dim=8 if attention_type == "perceiver" else None,
        )  # fmt: skip
        d = tmp_path / attention_type
        KnowGPTForCausalLM(config).eval().save_pretrained(d)
        tokenizer.save_pretrained(d)
        dirs.append(d)
    text = (tiny_data_dir / "wiki.txt").read_text(encoding="utf-8").splitlines()[0]
    model = KnowGPTForCausalLM.from_pretrained(dirs[0]).eval()
    ids = torch.tensor([tokenizer.encode_chars(text[:64])])
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(
            model(ids).logits[0, :-1], ids[0, 1:], reduction="none"
        )
    before, after = position_losses(model, tokenizer, [text], at=8)
    assert before == pytest.approx(float(nll[:8].mean()), rel=1e-5)
    assert after == pytest.approx(float(nll[8:].mean()), rel=1e-5)
    out = tmp_path / "reach.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "perceiver_reach.py"), "--models", *map(str, dirs),
         "--data_dir", str(tiny_data_dir), "--n", "40", "--at", "8", "--output", str(out)],
        env=hf_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["m"] for r in rows] == [8, None] and all(r["questions"] == 40 for r in rows)
    assert all(r["biographies"] > 0 and r["loss_before"] > 0 for r in rows)


def test_score_run_pair_scores_both_runs_with_their_provenance(
    tmp_path, hf_env, tiny_data_dir, reset_accelerate
):
    from conftest import SYNTHETIC_DIR

    from hf_knowgpt.cli import main
    from hf_knowgpt.data.formats import asked_name

    # Dev people with a biography in wiki.txt, so that both storage probes have cases.
    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)
    wiki = (data / "wiki.txt").read_text()
    names, chars = {line.split(".")[0] for line in wiki.splitlines()}, set(wiki) | {"\t"}
    pairs = [line for f in ("birth_places_train.tsv", "birth_dev.tsv")
             for line in (SYNTHETIC_DIR / f).read_text().splitlines()
             if asked_name(line.split("\t")[0]) in names and len(line) < 64 and set(line) <= chars]  # fmt: skip
    (data / "birth_dev.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    tiny = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "64",
            "--batch_size", "8", "--report_to", "none", "--max_steps", "2", "--data_dir", str(data)]  # fmt: skip
    assert main(["pretrain", "--output_dir", str(tmp_path / "pre"), *tiny]) == 0
    ft = ["--pretrained_model", str(tmp_path / "pre")]
    assert main(["finetune", "--output_dir", str(tmp_path / "ft"), *tiny, *ft]) == 0
    out = tmp_path / "result"
    cmd = [sys.executable, str(SCRIPTS / "score_run_pair.py"), "--pretrain_run", str(tmp_path / "pre"),
           "--finetune_run", str(tmp_path / "ft"), "--data_dir", str(data), "--output", str(out),
           "--what", "a tiny pair"]  # fmt: skip
    proc = subprocess.run(cmd, env=hf_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.with_suffix(".json").read_text())
    for stage in ("pretrained", "finetuned"):
        s = record[stage]
        assert s["dev"]["total"] == len(pairs) and s["storage"]["probed"] > 0
        assert s["cloze_storage"]["probed"] > 0 and s["run"]["steps"] == 2
        assert s["run"]["git_commit"] and s["run"]["train_minutes"] is not None
        assert (
            s["run"]["model"]["attention_type"] == "vanilla" and s["run"]["model"]["n_embd"] == 16
        )
    assert record["provenance"]["command"].startswith("score_run_pair.py")
    assert "# a tiny pair" in out.with_suffix(".md").read_text()
