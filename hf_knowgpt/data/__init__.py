"""Data: strict readers (`file:line` errors), the pretraining objectives, `datasets` pipelines,
collators, the synthetic-corpus generator, and the built-in corpus (data/corpus/, package data)."""

from .collators import PackedCollator, PaddedCollator, TrimmedCollator, count_targets
from .formats import IGNORE_INDEX, PAD_ID, qa_prompt, qa_row, visible_chars
from .objectives import NextCharLM, SpanCorruption, salient_spans
from .pipelines import birthplace_dataset, pretraining_dataset, prompts_dataset, set_epoch
from .readers import DataError, read_corpus, read_qa
from .synthetic import BUILTIN_DATA_DIR

__all__ = [
    "BUILTIN_DATA_DIR",
    "DataError",
    "IGNORE_INDEX",
    "NextCharLM",
    "PAD_ID",
    "PackedCollator",
    "PaddedCollator",
    "SpanCorruption",
    "TrimmedCollator",
    "birthplace_dataset",
    "count_targets",
    "pretraining_dataset",
    "prompts_dataset",
    "qa_prompt",
    "qa_row",
    "read_corpus",
    "read_qa",
    "salient_spans",
    "set_epoch",
    "visible_chars",
]
