"""The drivers' runner: typed overrides give exactly the dataclasses of the equivalent flags, a bad one
is a one-line error, and a result is written with its provenance."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from hf_knowgpt.lab.runner import (
    Run,
    Started,
    cli_flags,
    evaluate_run,
    parse_flags,
    run,
    write_result,
)
from hf_knowgpt.training.args import parse_args, parse_overrides

CASES = [  # job, recipe, overrides, the flags a user would type for them
    ("pretrain", "cs224n", {}, []),
    (
        "pretrain",
        "cpu2h",
        {"attention_type": "perceiver", "n_layer": 2, "learning_rate": 1e-3, "max_minutes": 5,
         "shuffle": True, "data_dir": Path("data/x"), "overwrite_output_dir": True},
        ["--attention_type", "perceiver", "--n_layer", "2", "--learning_rate", "1e-3",
         "--max_minutes", "5", "--shuffle", "--data_dir", "data/x", "--overwrite_output_dir"],
    ),
    ("pretrain", "mixed", {"packing": False, "salient_spans": 1, "seed": 3, "mix_qa": None},
     ["--packing", "false", "--salient_spans", "1", "--seed", "3"]),
    ("finetune", "cs224n", {"num_epochs": 3}, ["--num_epochs", "3"]),  # from scratch: 75 epochs
    ("finetune", "demo", {"pretrained_model": Path("runs/p"), "freeze": "mlp", "dropout": 0},
     ["--pretrained_model", "runs/p", "--freeze", "mlp", "--dropout", "0"]),
    ("finetune", "cpu2h", {"pretrained_model": "runs/p"}, ["--pretrained_model", "runs/p"]),
]  # fmt: skip


def _typed_fields(parsed) -> list:
    """Every field's name, value and type: 3 == 3.0 for a dataclass, not for run_info.json."""
    return [
        (f.name, getattr(o, f.name), type(getattr(o, f.name))) for o in parsed for f in fields(o)
    ]


@pytest.mark.parametrize("job, recipe, overrides, flags", CASES)
def test_overrides_give_what_the_equivalent_flags_give(job, recipe, overrides, flags):
    from_flags = parse_args(job, ["--recipe", recipe, *flags])
    from_overrides = parse_overrides(job, recipe, overrides)
    assert from_overrides == from_flags
    assert _typed_fields(from_overrides) == _typed_fields(from_flags)
    # The flags for a subprocess parse back to the same arguments.
    assert _typed_fields(parse_args(job, cli_flags(recipe, overrides))) == _typed_fields(from_flags)


def test_none_leaves_the_recipes_value_and_the_preset_follows_pretrained_model():
    assert parse_overrides("pretrain", "cpu2h", {"max_minutes": None})[2].max_minutes == 110
    assert parse_overrides("finetune", "cs224n", {})[2].num_epochs == 75
    assert parse_overrides("finetune", "cs224n", {"pretrained_model": "p"})[2].num_epochs == 10


@pytest.mark.parametrize(
    "job, overrides, message",
    [
        ("pretrain", {"learning_rat": 1e-3}, "knowgpt pretrain takes no argument 'learning_rat'"),
        ("finetune", {"objective": "lm"}, "knowgpt finetune takes no argument 'objective'"),
        ("pretrain", {"attention_type": "bogus"}, "argument --attention_type: invalid choice: 'bogus'"),
        ("pretrain", {"lr_schedule": "x"}, "(choose from 'cs224n', 'cosine', 'constant')"),
        ("pretrain", {"n_layer": 2.5}, "argument --n_layer: expected int, got 2.5"),
        ("pretrain", {"n_layer": True}, "argument --n_layer: expected int, got True"),
        ("pretrain", {"packing": "yes"}, "argument --packing: expected bool, got 'yes'"),
        ("pretrain", {"learning_rate": "1e-3"}, "argument --learning_rate: expected int or float"),
        ("pretrain", {"max_steps": 0}, "--max_steps must be >= 1"),  # the dataclass's own check
        ("pretrain", {"recipe": "demo"}, "the recipe is its own argument"),
    ],
)  # fmt: skip
def test_a_bad_override_is_one_line(job, overrides, message):
    with pytest.raises(ValueError) as error:
        parse_overrides(job, "cs224n", overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_recipe_is_one_line():
    with pytest.raises(ValueError, match="invalid choice: 'fastest'"):
        parse_overrides("pretrain", "fastest", {})


def test_parse_flags_keeps_only_the_flags_given_typed():
    given = parse_flags(
        "pretrain", ["--n_layer", "2", "--packing", "false", "--overwrite_output_dir"]
    )
    assert given == {"n_layer": 2, "packing": False, "overwrite_output_dir": True}
    assert parse_flags("finetune", []) == {}


def test_write_result_adds_the_provenance_to_both_files(tmp_path):
    prov = Started(commit="abc123").provenance()
    assert prov["git_commit"] == "abc123" and prov["wall_seconds"] >= 0
    body = "# Title\n\nBody."
    record = write_result(tmp_path / "out" / "r", {"rows": [1], "z": 2}, body, prov)
    saved = json.loads((tmp_path / "out" / "r.json").read_text(encoding="utf-8"))
    assert saved == record and list(saved) == ["rows", "z", "provenance"]
    assert saved["provenance"] == prov
    md = (tmp_path / "out" / "r.md").read_text(encoding="utf-8")
    assert md == (
        f"# Title\n\nBody.\n\nCommand: `{prov['command']}`  \nCommit: abc123  \nDate: {prov['date']}  "
        f"\nMachine: {prov['machine']}  \nWall time: {prov['wall_seconds']} s\n"
    )
    write_result(tmp_path / "json_only", {}, None, prov)
    assert [p.name for p in tmp_path.glob("json_only*")] == ["json_only.json"]


def test_run_trains_and_evaluate_run_scores(tmp_path, hf_env, tiny_data_dir, reset_accelerate):
    tiny = {"n_layer": 1, "n_embd": 16, "n_head": 2, "block_size": 64, "batch_size": 8}
    trained = run("finetune", "cs224n", **tiny, data_dir=tiny_data_dir, max_steps=1,
                  report_to="none", output_dir=tmp_path / "ft", threads=1)  # fmt: skip
    assert trained.output_dir == tmp_path / "ft" and trained.model_dir == tmp_path / "ft" / "model"
    assert (trained.run_info["job"], trained.run_info["recipe"], trained.run_info["steps"]) == (
        "finetune",
        "cs224n",
        1,
    )
    assert Run.load(tmp_path / "ft") == trained
    dev = tiny_data_dir / "birth_dev.tsv"
    result = evaluate_run(trained, dev, "dev_predictions.txt")
    lines = (tmp_path / "ft" / "dev_predictions.txt").read_text(encoding="utf-8").splitlines()
    assert result["total"] == len(lines) == len(dev.read_text(encoding="utf-8").splitlines())
