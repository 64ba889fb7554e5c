"""Training arguments: dataclasses for `HfArgumentParser`, with the named recipe applied.

A recipe (training/recipes.py) fills in every argument the user did not give.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from .recipes import RECIPES


@dataclass
class ModelArguments:
    attention_type: str | None = field(
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
    objective: str = field(
        default="span", metadata={"help": "pretraining objective: span (corruption) or lm"}
    )
    window: str = field(
        default="prefix",
        metadata={
            "help": "prefix (course: truncate), random (any window) or stream (lm only: the start,"
            " after another document's tail)"
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
    num_workers: int = 0


@dataclass
class TrainArguments:
    output_dir: str = field(default="runs/knowgpt", metadata={"help": "run directory"})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "replace a finished or started run there"}
    )
    recipe: str = field(
        default="cs224n", metadata={"help": "named preset, see hf_knowgpt.training.recipes"}
    )
    num_epochs: float | None = None
    max_steps: int | None = None
    max_minutes: float | None = field(
        default=None, metadata={"help": "stop after this many training minutes (0: no budget)"}
    )
    batch_size: int | None = field(default=None, metadata={"help": "global batch size in examples"})
    learning_rate: float | None = None
    lr_schedule: str | None = field(default=None, metadata={"help": "cs224n, cosine or constant"})
    warmup_tokens: int = 512 * 20
    warmup_steps: int = 0
    weight_decay: float = 0.1
    decay: str = field(
        default="linear",
        metadata={
            "help": "which weights decay: linear (Linear weights only, minGPT) or course (all but "
            "biases: the CS224N trainer's no_decay = ['bias', 'LayerNorm.weight'] matches no "
            "LayerNorm of its GPT, so embeddings, positions and LayerNorm gains decay too)"
        },
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
    mixed_precision: str | None = field(
        default=None, metadata={"help": "no, bf16 or fp16 (default: launcher's)"}
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
    report_to: str = field(default="tensorboard", metadata={"help": "tensorboard or none"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})
    threads: int | None = field(
        default=None, metadata={"help": "torch intra-op threads (default: all cores)"}
    )
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = False
    debug: bool = field(default=False, metadata={"help": "show tracebacks"})


def parse_args(job: str, argv: list[str] | None = None):
    """Parse flags (or one .json file) into (ModelArguments, DataArguments, TrainArguments) with the recipe applied.

    Args:
        job: "pretrain" or "finetune" (selects the recipe's preset).
        argv: command-line arguments (default sys.argv[1:]).
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        model_args, data_args, train_args = parser.parse_json_file(argv[0])
        given = set(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    else:
        model_args, data_args, train_args = parser.parse_args_into_dataclasses(argv)
        given = _given_flags(argv)
    apply_recipe(job, model_args, data_args, train_args, given=given)
    return model_args, data_args, train_args


def _given_flags(argv: list[str]) -> set[str]:
    return {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}


def apply_recipe(
    job: str, model_args, data_args, train_args, given: set[str] = frozenset()
) -> None:
    """Fill every argument the user left unset from the recipe's preset for `job`."""
    if train_args.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {train_args.recipe!r}; choose one of {sorted(RECIPES)}")
    key = "finetune_scratch" if job == "finetune" and not model_args.pretrained_model else job
    preset = RECIPES[train_args.recipe][key]
    for name, value in preset.items():
        for args in (train_args, data_args, model_args):
            if name in {f.name for f in dataclasses.fields(args)}:
                if name not in given and (getattr(args, name) is None or name in _DEFAULTED):
                    setattr(args, name, value)
                break
        else:
            raise KeyError(f"recipe {train_args.recipe!r} sets unknown argument {name!r}")


# Arguments with a non-None default that a recipe may still override when the user did not pass them.
_DEFAULTED = {
    "window", "mix_qa", "qa_repeats", "salient_spans", "augment", "warmup_steps", "objective", "dropout", "decay", "shuffle"
}  # fmt: skip
