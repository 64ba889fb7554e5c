"""Training: typed arguments, the named recipes, the `accelerate` trainer and the LR schedules."""

from .args import DataArguments, ModelArguments, TrainArguments, parse_args
from .recipes import RECIPES
from .trainer import train

__all__ = ["DataArguments", "ModelArguments", "RECIPES", "TrainArguments", "parse_args", "train"]
