"""`knowgpt demo` in miniature: every row is measured, with dev storage for the three models."""

from __future__ import annotations

import json

import pytest

from hf_knowgpt.demo import run_demo

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_tiny_demo_writes_its_table(tmp_path, capsys):
    results = run_demo(
        str(tmp_path / "demo"),
        pretrain_minutes=0.05,
        finetune_epochs=1,
        n_people=40,
        variants=2,
        model_flags=("--n_embd", "32", "--n_head", "2", "--n_layer", "1"),
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
        if name != "London baseline":
            storage = row["storage"]
            assert 0 < storage["probed"] <= row["total"] and storage["questions"] == row["total"]
    saved = json.loads((tmp_path / "demo" / "demo_results.json").read_text())
    assert saved["rows"] == rows and saved["full_names"] is True and saved["train_share"] == 0.7
    table = (tmp_path / "demo" / "demo_results.md").read_text()
    assert "| model | dev accuracy | correct | dev storage |" in table
    assert "Correct:" in capsys.readouterr().out
