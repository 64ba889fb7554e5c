"""`knowgpt demo` in miniature: every row is measured, with dev storage for the three models."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from hf_knowgpt.lab.demo import run_demo

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_tiny_demo_writes_its_table(tmp_path, capsys):
    results = run_demo(
        str(tmp_path / "demo"),
        pretrain_minutes=0.05,
        finetune_epochs=1,
        n_people=40,
        variants=2,
        model={"n_embd": 32, "n_head": 2, "n_layer": 1},
    )
    rows = results["rows"]
    assert list(rows) == [
        "London baseline",
        "finetuned without pretraining",
        "pretrained, not finetuned",
        "pretrained + finetuned",
    ]
    dev_questions = (tmp_path / "demo" / "data" / "birth_dev.tsv").read_text().splitlines()
    for name, row in rows.items():
        assert row["total"] == len(dev_questions) == 40 - 40 // 3, name  # all but the train third
        assert 0 <= row["correct"] <= row["total"]
        low, high = row["ci95"]
        assert 0 <= low <= row["accuracy"] <= high <= 1
        if name != "London baseline":
            for key in ("storage", "cloze_storage"):
                storage = row[key]
                assert (
                    0 < storage["probed"] <= row["total"] and storage["questions"] == row["total"]
                )
    assert 0 < results["p_value_pretraining_helps"] <= 1
    saved = json.loads((tmp_path / "demo" / "demo_results.json").read_text())
    assert saved["rows"] == rows and saved["full_names"] is True and saved["train_share"] == 1 / 3
    curve = saved["pretrain_curve"]  # the pretraining scored on dev as it trained
    assert curve and all(0 <= p["dev_accuracy"] <= 1 and p["train_minutes"] > 0 for p in curve)
    assert (tmp_path / "demo" / "demo_results.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "demo" / "demo_results.md").read_text()
    assert "| model | dev accuracy | correct | 95 % interval | dev storage: continues" in table
    assert "Fisher exact p =" in table
    assert "\nCommit: " in table and saved["provenance"]["wall_seconds"] > 0
    printed = capsys.readouterr()
    assert "Correct:" in printed.out
    # One progress bar per phase, each labelled with the phase and the whole demo's end time.
    for k, what in enumerate(["pretraining for 0.05 min", "finetuning the pretrained model",
                              "finetuning without pretraining", "scoring and probing"], 1):  # fmt: skip
        assert re.search(rf"demo {k}/4 {what}.* \(demo ends ~\d\d:\d\d\)", printed.err), k


def test_error_bars_and_significance():
    from hf_knowgpt.evaluation.stats import fisher_greater, wilson_interval

    low, high = wilson_interval(0, 40)
    assert low == 0 and high == pytest.approx(1.96**2 / (40 + 1.96**2))
    low, high = wilson_interval(20, 40)
    assert (low + high) / 2 == pytest.approx(0.5) and high - low == pytest.approx(0.2960, abs=1e-3)
    # Fisher's tea tasting: 3 of 4 cups right against 1 of 4, p = 17/70.
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70)
    assert fisher_greater(0, 40, 0, 40) == 1.0
    for total in range(1, 300):  # the interval holds the estimate, also at 0 and all correct
        for correct in (0, 1, total - 1, total):
            low, high = wilson_interval(correct, total)
            assert 0 <= low <= correct / total <= high <= 1, (correct, total)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def _tiny_demo_args(out) -> list[str]:
    return [
        "demo",
        "--output_dir",
        str(out),
        "--pretrain_minutes",
        "0.05",
        "--finetune_epochs",
        "1",
    ]


def test_demo_runs_on_a_users_data_dir_without_generating(tmp_path, tiny_data_dir, hf_env):
    from hf_knowgpt.lab import demo

    out = tmp_path / "demo"
    results = demo.run_demo(
        str(out), data_dir=str(tiny_data_dir), pretrain_minutes=0.05, finetune_epochs=1,
        model={"n_embd": 32, "n_head": 2, "n_layer": 1},
    )  # fmt: skip
    assert not (out / "data").exists()  # nothing generated
    dev = (tiny_data_dir / "birth_dev.tsv").read_text(encoding="utf-8").splitlines()
    assert all(row["total"] == len(dev) for row in results["rows"].values())
    assert results["data_dir"] == str(tiny_data_dir) and "n_people" not in results
    info = json.loads((out / "pretrain" / "run_info.json").read_text())
    assert info["corpus"] == str(tiny_data_dir / "wiki.txt") and info["recipe"] == "demo"
    assert str(tiny_data_dir) in (out / "demo_results.md").read_text()


def test_demo_refuses_a_malformed_data_dir_before_training(tmp_path, tiny_data_dir, hf_env, capsys):
    from hf_knowgpt.cli import main

    data = shutil.copytree(tiny_data_dir, tmp_path / "data")
    dev = data / "birth_dev.tsv"
    lines = dev.read_text(encoding="utf-8").splitlines()
    dev.write_text("\n".join([lines[0], lines[1].replace("\t", "  "), *lines[2:]]) + "\n")
    out = tmp_path / "demo"
    assert main([*_tiny_demo_args(out), "--data_dir", str(data)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{dev}:2:" in err[0], err
    assert not out.exists()  # no training started


def test_demo_refuses_generation_flags_with_a_data_dir(tmp_path, tiny_data_dir, capsys):
    from hf_knowgpt.lab.demo import main

    with pytest.raises(SystemExit) as stop:
        main([*_tiny_demo_args(tmp_path)[1:], "--data_dir", str(tiny_data_dir), "--n_people", "50"])
    assert stop.value.code == 2
    assert "--n_people describe the generated corpus" in capsys.readouterr().err
