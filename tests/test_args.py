"""Arguments: typed choices refused at parse time in one line, recipes as parser defaults that explicit
flags override, and values that would run silently wrong refused before anything is read."""

from __future__ import annotations

import pytest

from hf_knowgpt.cli import main
from hf_knowgpt.training import args as args_module
from hf_knowgpt.training.args import PretrainDataArguments, parse_args
from hf_knowgpt.training.recipes import RECIPES


@pytest.mark.parametrize(
    "flags, choices",
    [
        (["--attention_type", "bogus"], "'vanilla', 'synthesizer', 'perceiver'"),
        (["--lr_schedule", "x"], "'cs224n', 'cosine', 'constant'"),
        (["--objective", "mlm"], "'span', 'lm'"),
        (["--decay", "all"], "'linear', 'course'"),
        (["--mixed_precision", "fp8"], "'no', 'bf16', 'fp16'"),
        (["--recipe", "fastest"], "'cs224n', 'cs224n_fast'"),
    ],
)
def test_a_bad_choice_is_one_line_listing_the_choices(flags, choices, tmp_path, capsys):
    out = tmp_path / "run"
    try:
        rc = main(["pretrain", "--output_dir", str(out), *flags])
    except SystemExit as e:  # argparse's own exit (status 2)
        rc = e.code
    assert rc != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "invalid choice" in lines[0] and choices in lines[0], lines
    assert not out.exists()  # refused before anything was read or written


@pytest.mark.parametrize(
    "flag, value",
    [("max_steps", "0"), ("num_epochs", "0"), ("save_total_limit", "0"), ("max_minutes", "-1"),
     ("save_steps", "-1"), ("threads", "0"), ("threads", "-2"), ("gradient_accumulation_steps", "0"),
     ("logging_steps", "0"), ("learning_rate", "inf"), ("learning_rate", "nan"), ("batch_size", "0")],
)  # fmt: skip
def test_values_that_would_run_silently_wrong_are_refused(flag, value, tmp_path, capsys):
    assert main(["pretrain", "--output_dir", str(tmp_path / "run"), f"--{flag}", value]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--{flag}" in err[0], err
    assert not (tmp_path / "run").exists()


def test_recipe_values_are_defaults_and_explicit_flags_win():
    _, data, train = parse_args("pretrain", ["--recipe", "salient"])
    assert train.learning_rate == RECIPES["salient"]["pretrain"]["learning_rate"]
    assert data.salient_spans == 1.0 and train.lr_schedule == "cosine"
    _, data, train = parse_args(
        "pretrain", ["--recipe", "salient", "--salient_spans", "0", "--learning_rate", "1e-4"]
    )
    assert (
        data.salient_spans == 0.0 and train.learning_rate == 1e-4
    )  # given equal or not, a flag wins


def test_a_recipe_may_set_any_argument(monkeypatch):
    """The old bookkeeping silently ignored a recipe's weight_decay or warmup_tokens."""
    preset = {"weight_decay": 0.0, "warmup_tokens": 7, "shuffle": False, "dropout": 0.3}
    monkeypatch.setitem(RECIPES, "demo", {"pretrain": preset})
    model, _, train = parse_args("pretrain", ["--recipe", "demo"])
    assert (train.weight_decay, train.warmup_tokens, train.shuffle, model.dropout) == (
        0.0,
        7,
        False,
        0.3,
    )


def test_a_recipe_setting_an_unknown_argument_is_an_error(monkeypatch):
    monkeypatch.setitem(RECIPES, "demo", {"pretrain": {"learning_rat": 1e-3}})
    with pytest.raises(KeyError, match="learning_rat"):
        parse_args("pretrain", ["--recipe", "demo"])


def test_finetuning_chooses_its_preset_by_pretrained_model():
    _, _, scratch = parse_args("finetune", ["--recipe", "cs224n"])
    _, _, after = parse_args("finetune", ["--recipe", "cs224n", "--pretrained_model", "runs/p"])
    assert (scratch.num_epochs, after.num_epochs) == (75, 10)


def test_finetune_takes_no_pretraining_objective_flags(capsys):
    parser = args_module.build_parser("finetune")
    help_text = parser.format_help()
    assert "--objective" not in help_text and "--salient_spans" not in help_text
    assert "--pretrained_model" in help_text and "--eval_file" in help_text
    with pytest.raises(ValueError, match="--objective"):
        parse_args("finetune", ["--objective", "lm"])


def test_a_json_file_of_arguments_is_parsed_like_flags(tmp_path):
    path = tmp_path / "args.json"
    path.write_text(
        '{"recipe": "salient", "learning_rate": 0.001, "attention_type": "synthesizer"}'
    )
    model, data, train = parse_args("pretrain", [str(path)])
    assert (model.attention_type, train.learning_rate, data.salient_spans) == (
        "synthesizer",
        1e-3,
        1.0,
    )


def test_fp16_on_cpu_is_refused_not_recorded(tmp_path, capsys, hf_env, reset_accelerate):
    out = tmp_path / "run"
    rc = main(
        ["pretrain", "--output_dir", str(out), "--mixed_precision", "fp16", "--max_steps", "1"]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "knowgpt pretrain: error: --mixed_precision fp16 does nothing on a CPU; use bf16 or no"
    ]
    assert not (out / "run_info.json").exists()


def test_augment_full_names_needs_augmented_copies():
    with pytest.raises(ValueError, match="--augment >= 1"):
        PretrainDataArguments(augment_full_names=True)
    PretrainDataArguments(augment=1, augment_full_names=True)
