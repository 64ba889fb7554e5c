"""`knowgpt demo` in miniature: every row is measured, with dev storage for the three models."""

from __future__ import annotations

import json

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
        assert row["total"] == len(dev_questions) == 8, name
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
    assert saved["rows"] == rows and saved["full_names"] is True and saved["train_share"] == 0.7
    table = (tmp_path / "demo" / "demo_results.md").read_text()
    assert "| model | dev accuracy | correct | 95 % interval | dev storage: continues" in table
    assert "Fisher exact p =" in table
    assert "\nCommit: " in table and saved["provenance"]["wall_seconds"] > 0
    assert "Correct:" in capsys.readouterr().out


def test_error_bars_and_significance():
    from hf_knowgpt.evaluation.stats import fisher_greater, wilson_interval

    low, high = wilson_interval(0, 40)
    assert low == 0 and high == pytest.approx(1.96**2 / (40 + 1.96**2))
    low, high = wilson_interval(20, 40)
    assert (low + high) / 2 == pytest.approx(0.5) and high - low == pytest.approx(0.2960, abs=1e-3)
    # Fisher's tea tasting: 3 of 4 cups right against 1 of 4, p = 17/70.
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70)
    assert fisher_greater(0, 40, 0, 40) == 1.0
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
