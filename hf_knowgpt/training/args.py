"""Training arguments: dataclasses for `HfArgumentParser`, with the named recipe applied.

A recipe (training/recipes.py) fills in every argument the user did not give.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from transformers import HfArgumentParser

from ..data.formats import QUESTION_FORMS
from .optimizers import OPTIMIZERS
from .recipes import RECIPES
from .schedules import SCHEDULES

Job = Literal["pretrain", "finetune"]
AttentionType = Literal["vanilla", "synthesizer", "perceiver"]
RecipeName = Literal[tuple(RECIPES)]
ScheduleName = Literal[SCHEDULES]
OptimizerName = Literal[OPTIMIZERS]


@dataclass
class ModelArguments:
    attention_type: AttentionType | None = field(
        default=None,
        metadata={
            "help": "vanilla, synthesizer or perceiver (default: vanilla, or the pretrained model's)"
        },
    )
    bottleneck_dim: int | None = field(
        default=None, metadata={"help": "Perceiver slots m (default 32)"}
    )
    n_layer: int = 4
    n_head: int = 8
    n_embd: int = 256
    block_size: int = 128
    dropout: float | None = field(
        default=None,
        metadata={
            "help": "embedding, residual and attention dropout (default 0.1; when finetuning, the "
            "pretrained model's own)"
        },
    )
    pretrained_model: str | None = field(
        default=None,
        metadata={"help": "finetune from this model or run directory (its tokenizer too)"},
    )


@dataclass
class DataArguments:
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "folder with wiki.txt and the TSVs (default: the built-in synthetic corpus)"
        },
    )
    corpus_file: str | None = field(
        default=None, metadata={"help": "pretraining corpus (default data_dir/wiki.txt)"}
    )
    train_file: str | None = field(
        default=None, metadata={"help": "QA train TSV (default data_dir/birth_places_train.tsv)"}
    )
    eval_file: str | None = field(
        default=None, metadata={"help": "QA dev TSV (default data_dir/birth_dev.tsv)"}
    )
    num_workers: int = 0
    question_forms: int = field(
        default=1,
        metadata={
            "help": "finetuning and --mix_qa: each train pair once per phrasing of its question, up to "
            f"{len(QUESTION_FORMS)} (data/formats.py; 1: the file's). Dev and test are asked as written"
        },
    )

    def __post_init__(self):
        if self.num_workers < 0:
            raise ValueError(f"--num_workers must be >= 0, got {self.num_workers}")
        if not 1 <= self.question_forms <= len(QUESTION_FORMS):
            raise ValueError(
                f"--question_forms is 1 to {len(QUESTION_FORMS)}, got {self.question_forms}"
            )


@dataclass
class PretrainDataArguments(DataArguments):
    """What pretraining learns from the corpus (finetuning has none of these)."""

    objective: Literal["span", "lm"] = field(
        default="span", metadata={"help": "pretraining objective: span (corruption) or lm"}
    )
    window: Literal["prefix", "random", "whole", "stream"] = field(
        default="prefix",
        metadata={
            "help": "prefix (course: truncate), random (any window), whole (span only: the start,"
            " uncut) or stream (lm only: the start, after another document's tail)"
        },
    )
    salient_spans: float = field(
        default=0.0,
        metadata={
            "help": "span objective: share of examples that mask a whole named entity (a run of "
            "capitalised words) instead of a random span"
        },
    )
    mix_qa: bool = field(
        default=False, metadata={"help": "interleave the train QA pairs into pretraining"}
    )
    qa_repeats: int = field(
        default=1, metadata={"help": "copies of each train QA pair per epoch when mixing"}
    )
    augment: int = field(
        default=0, metadata={"help": "extra augmented copies of each document (sentence shuffles)"}
    )
    augment_full_names: bool = field(
        default=False,
        metadata={
            "help": "in the augmented copies, name the person in full wherever the text uses the "
            "surname (the line's title, data/augment.py)"
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.salient_spans <= 1:
            raise ValueError(f"--salient_spans is a share in [0, 1], got {self.salient_spans}")
        if self.qa_repeats < 1 or self.augment < 0:
            raise ValueError("--qa_repeats must be >= 1 and --augment >= 0")
        if self.augment_full_names and not self.augment:
            raise ValueError(
                "--augment_full_names rewrites the augmented copies: give --augment >= 1"
            )


@dataclass
class TrainArguments:
    output_dir: str = field(default="runs/knowgpt", metadata={"help": "run directory"})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "replace a finished or started run there"}
    )
    recipe: RecipeName = field(
        default="cs224n",
        metadata={"help": "named preset (hf_knowgpt/training/recipes.py); explicit flags win"},
    )
    num_epochs: float | None = None
    max_steps: int | None = None
    max_minutes: float | None = field(
        default=None, metadata={"help": "stop after this many training minutes (0: no budget)"}
    )
    batch_size: int | None = field(default=None, metadata={"help": "global batch size in examples"})
    learning_rate: float | None = None
    lr_schedule: ScheduleName | None = None
    warmup_tokens: int = 512 * 20
    warmup_steps: int = 0
    weight_decay: float = 0.1
    optimizer: OptimizerName = field(
        default="adamw",
        metadata={
            "help": "adamw, or muon: torch.optim.Muon on every Linear weight but the output "
            "layer's, AdamW on the rest, one learning rate for both (training/optimizers.py)"
        },
    )
    decay: Literal["linear", "course"] = field(
        default="linear",
        metadata={
            "help": "which weights decay: linear (Linear weights only, minGPT) or course (all but "
            "biases: the CS224N trainer's no_decay = ['bias', 'LayerNorm.weight'] matches no "
            "LayerNorm of its GPT, so embeddings, positions and LayerNorm gains decay too)"
        },
    )
    freeze: Literal["none", "embeddings", "mlp", "lower_half"] = field(
        default="none",
        metadata={
            "help": "weights kept as loaded (finetuning): none; embeddings (token and position); "
            "mlp (every block's feed-forward, where transformers keep most facts); lower_half "
            "(the embeddings and the first n_layer // 2 blocks)"
        },
    )
    lora_rank: int = field(
        default=0,
        metadata={
            "help": "finetuning: train rank-r LoRA adapters (peft) on every Linear of the blocks instead "
            "of the weights, merged into the saved model (0: train the weights)"
        },
    )
    lora_alpha: float | None = field(
        default=None,
        metadata={"help": "LoRA's scale is lora_alpha / lora_rank (default 2 × lora_rank)"},
    )
    shuffle: bool = field(
        default=True, metadata={"help": "shuffle each epoch (the CS224N trainer does not)"}
    )
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    packing: bool | None = field(
        default=None, metadata={"help": "pad-free packed batches (same loss, faster)"}
    )
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] | None = field(
        default=None,
        metadata={
            "help": "default: the launcher's (fp16 needs a GPU); auto: bf16 where the device multiplies "
            "bf16 in hardware (a GPU that supports it, a CPU with AVX512-BF16 or AMX), else no"
        },
    )
    seed: int = 0
    save_steps: int = field(
        default=0, metadata={"help": "checkpoint every N optimizer steps (0: only at the end)"}
    )
    save_total_limit: int = 2
    logging_steps: int = 10
    eval_steps: int = field(
        default=0, metadata={"help": "evaluate on eval_file every N steps (0: never mid-run)"}
    )
    eval_minutes: float = field(
        default=0.0, metadata={"help": "evaluate every N training minutes (0: never)"}
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "'latest' (the run directory's newest checkpoint) or a checkpoint path"},
    )
    report_to: Literal["tensorboard", "none"] = "tensorboard"
    progress_label: str | None = field(
        default=None,
        metadata={"help": "the progress bar's label (default: job and attention type)"},
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})
    threads: int | None = field(
        default=None, metadata={"help": "torch intra-op threads (default: all cores)"}
    )
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = False

    def __post_init__(self):
        """Refuse at parse time what would otherwise run silently wrong (e.g. --max_steps 0)."""
        at_least_one = ("max_steps", "batch_size", "save_total_limit", "gradient_accumulation_steps",
                        "logging_steps", "threads")  # fmt: skip
        for name in at_least_one:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be >= 1 (or left unset), got {value}")
        for name in ("save_steps", "eval_steps", "eval_minutes", "max_minutes", "warmup_steps",
                     "warmup_tokens", "weight_decay", "lora_rank"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"--{name} must be >= 0 (0: off), got {value}")
        if self.num_epochs is not None and not (
            self.num_epochs > 0 and math.isfinite(self.num_epochs)
        ):
            raise ValueError(f"--num_epochs must be a positive number, got {self.num_epochs}")
        if self.learning_rate is not None and not (
            self.learning_rate > 0 and math.isfinite(self.learning_rate)
        ):
            raise ValueError(f"--learning_rate must be a positive number, got {self.learning_rate}")
        if self.lora_rank and self.freeze != "none":
            raise ValueError(
                "--lora_rank trains adapters and keeps every weight as loaded; drop --freeze"
            )
        if self.lora_rank and self.optimizer != "adamw":
            raise ValueError("--lora_rank trains its adapters with AdamW; drop --optimizer")
        if self.lora_alpha is not None and not (self.lora_rank and self.lora_alpha > 0):
            raise ValueError("--lora_alpha needs --lora_rank and must be positive")
        if self.lora_rank and self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_rank  # LoRA's scale lora_alpha / lora_rank: 2


class _Parser(HfArgumentParser):
    """`HfArgumentParser` whose errors (a bad choice, an unknown flag) are one line, not the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(job: Job, recipe: str = "cs224n", pretrained: bool = False) -> HfArgumentParser:
    """The parser of `job` with the recipe's preset as its defaults, so explicit flags always win."""
    if recipe not in RECIPES:
        choices = ", ".join(repr(r) for r in RECIPES)
        raise ValueError(f"argument --recipe: invalid choice: {recipe!r} (choose from {choices})")
    parser = _Parser(
        (ModelArguments, DATA_ARGUMENTS[job], TrainArguments), prog=f"knowgpt {job}",
        description="Flags left out take the recipe's value (see --recipe), else the default shown.",
    )  # fmt: skip
    preset = RECIPES[recipe]["finetune_scratch" if job == "finetune" and not pretrained else job]
    known = {f.name for dtype in parser.dataclass_types for f in fields(dtype)}
    unknown = sorted(set(preset) - known)
    if unknown:
        raise KeyError(f"recipe {recipe!r} sets {unknown}, which {job} does not take")
    parser.set_defaults(**preset)
    return parser


def parse_args(job: Job, argv: list[str] | None = None):
    """Parse flags (or one .json file) into (ModelArguments, DataArguments, TrainArguments).

    The recipe is read first; its preset for `job` ("finetune_scratch" when finetuning without
    --pretrained_model) becomes the parser's defaults.
    """
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        given = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        return parse_overrides(job, given.pop("recipe", "cs224n"), given)
    first = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    first.add_argument("--recipe", default="cs224n")
    first.add_argument("--pretrained_model")
    known, _ = first.parse_known_args(argv)
    return build_parser(
        job, known.recipe, bool(known.pretrained_model)
    ).parse_args_into_dataclasses(argv)


def parse_overrides(job: Job, recipe: str = "cs224n", overrides: dict | None = None):
    """`parse_args` for typed values: the dataclasses that `--recipe recipe --name value ...` give.

    A value None leaves its argument to the recipe, as leaving the flag out does. An unknown name,
    a value of another type (an int is taken for a float) or a choice not listed is a ValueError.
    """
    given = {name: value for name, value in (overrides or {}).items() if value is not None}
    if "recipe" in given:
        raise ValueError("the recipe is its own argument, not an override")
    parser = build_parser(job, recipe, bool(given.get("pretrained_model")))
    values = vars(parser.parse_args([]))  # the recipe's defaults, as the command line has them
    actions = {a.dest: a for a in parser._actions if f"--{a.dest}" in a.option_strings}
    for name, value in given.items():
        if name not in values:
            raise ValueError(f"knowgpt {job} takes no argument {name!r}")
        values[name] = _typed(name, actions[name], value)
    return parser.parse_dict({**values, "recipe": recipe})


def _typed(name: str, action: argparse.Action, value):
    """`value` as the flag `--name value` gives it: one of the choices, or of the flag's type."""
    if action.choices is not None:
        if value not in action.choices:
            choices = ", ".join(repr(c) for c in action.choices)
            raise ValueError(
                f"argument --{name}: invalid choice: {value!r} (choose from {choices})"
            )
        return value
    accepted = {float: (int, float), int: (int,), str: (str, os.PathLike)}.get(action.type, (bool,))
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        kind = " or ".join(t.__name__ for t in accepted)
        raise ValueError(f"argument --{name}: expected {kind}, got {value!r}")
    return action.type(os.fspath(value) if isinstance(value, os.PathLike) else value)


DATA_ARGUMENTS = {"pretrain": PretrainDataArguments, "finetune": DataArguments}
