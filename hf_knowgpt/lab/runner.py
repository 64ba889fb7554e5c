"""What every experiment driver does: train a job with a recipe, score the model, write the result.

The demo and the scripts call these instead of writing command lines and parsing them back: `run`
gives `training.trainer.train` the arguments that `knowgpt pretrain|finetune --recipe R --name value`
would give, and `write_result` writes a result's JSON and Markdown together, with their provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..evaluation.scoring import evaluate_file
from ..training.args import Job, build_parser, parse_overrides
from ..training.trainer import train
from ..utils import atomic_write_texts, git_commit, provenance

COMMON = {"report_to": "none", "overwrite_output_dir": True, "logging_steps": 50}
"""What the drivers give every run: no TensorBoard, a rerun replaces its run directory, a log line
every 50 steps."""


@dataclass(frozen=True)
class Run:
    """A finished training run: its directory and what its `run_info.json` records."""

    output_dir: Path
    run_info: dict

    @property
    def model_dir(self) -> Path:
        return self.output_dir / "model"

    @classmethod
    def load(cls, output_dir: str | os.PathLike) -> Run:
        """The run that finished in `output_dir`."""
        output_dir = Path(output_dir)
        info = json.loads((output_dir / "run_info.json").read_text(encoding="utf-8"))
        return cls(output_dir, info)

    def facts(self) -> dict:
        """What a result file or model card cites of the run: its recipe, minutes, steps and epochs,
        and the command, commit, machine and date that produced it."""
        prov = self.run_info["provenance"]
        return {
            **{k: self.run_info[k] for k in ("recipe", "train_minutes", "steps", "epochs")},
            **{k: prov[k] for k in ("command", "git_commit", "machine", "date")},
        }


def run(job: Job, recipe: str, **overrides) -> Run:
    """Train `job` with the recipe's preset, the overrides winning.

    Args:
        job: "pretrain" or "finetune" (from scratch unless `pretrained_model` is given).
        recipe: a name in `training.recipes.RECIPES`.
        **overrides: trainer arguments by name, typed (`max_minutes=5`, `pretrained_model=path`),
            each as its flag would give it; None leaves one to the recipe (`training.args.parse_overrides`).
    """
    return Run.load(train(job, *parse_overrides(job, recipe, overrides)))


def evaluate_run(
    run: Run, eval_file: str | os.PathLike, predictions: str | None = None, device=None
) -> dict:
    """`evaluation.scoring.evaluate_file` on the run's model; `predictions` names the file in the
    run directory that gets the answers (None: none written)."""
    output_file = run.output_dir / predictions if predictions else None
    return evaluate_file(run.model_dir, eval_file, output_file, device=device)


def cli_flags(recipe: str, overrides: dict) -> list[str]:
    """The `knowgpt pretrain|finetune` flags for `run(job, recipe, **overrides)`, for a subprocess."""
    flags = ["--recipe", recipe]
    for name, value in overrides.items():
        if value is not None:  # a bool as `true`/`false`: `--packing` takes no bare form
            flags += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


def parse_flags(job: Job, argv: list[str]) -> dict:
    """Only the trainer arguments that `argv` names, typed as the command line types them (for
    drivers that pass flags through to every run)."""
    parser = build_parser(job)
    unset = object()  # in the namespace already, so argparse fills in no default
    names = {f.name for dtype in parser.dataclass_types for f in fields(dtype)}
    given = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(names, unset)))
    return {name: value for name, value in vars(given).items() if value is not unset}


@dataclass(frozen=True)
class Started:
    """When a driver started and the commit it runs: the code that ran, even if the tree changes."""

    clock: float = field(default_factory=time.perf_counter)
    commit: str = field(default_factory=git_commit)

    def provenance(self) -> dict:
        return provenance(time.perf_counter() - self.clock, commit=self.commit)


def footer(prov: dict) -> str:
    """The provenance lines that end every Markdown result."""
    return (
        f"Command: `{prov['command']}`  \nCommit: {prov['git_commit']}  \nDate: {prov['date']}  \n"
        f"Machine: {prov['machine']}  \nWall time: {prov['wall_seconds']} s\n"
    )


def write_result(path: str | os.PathLike, payload: dict, markdown: str | None, prov: dict) -> dict:
    """Write PATH.json (`payload` and its provenance) and PATH.md (`markdown`, then the provenance
    footer) together; returns what PATH.json holds.

    Args:
        path: the result's path without extension.
        payload: the result; its "provenance" is added last.
        markdown: the Markdown body (None: no PATH.md).
        prov: `Started.provenance()` of the driver (`utils.provenance`).
    """
    record = {**payload, "provenance": prov}
    texts = {f"{path}.json": json.dumps(record, indent=2, ensure_ascii=False) + "\n"}
    if markdown is not None:
        texts[f"{path}.md"] = f"{markdown}\n\n{footer(prov)}"
    atomic_write_texts(texts)
    return record
