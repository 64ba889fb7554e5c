"""`knowgpt data charcorruption|namedata FILE` shows examples; `knowgpt data validate DATA_DIR` checks files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model.tokenization_knowgpt import PAD_CHAR, KnowGPTTokenizer
from .formats import IGNORE_INDEX
from .objectives import NextCharLM
from .pipelines import birthplace_dataset, pretraining_dataset
from .readers import DataError, read_corpus, read_qa


def _show(tokenizer, row) -> str:
    """Input without its PAD tail, and the labels with -100 shown as `·`."""
    ids, labels = [int(i) for i in row["input_ids"]], [int(i) for i in row["labels"]]
    text = tokenizer.decode_chars(ids).rstrip(PAD_CHAR)
    shown = "".join("·" if i == IGNORE_INDEX else tokenizer.decode_chars([i]) for i in labels)
    return (
        f"  input : {text!r} + {len(ids) - len(text)}×{PAD_CHAR}\n  labels: {shown.rstrip('·')!r}\n"
    )


def _validate(data_dir: Path, block_size: int) -> bool:
    """Print one line per file of a data directory; True when all are valid."""
    tokenizer, ok = None, True
    checks = {"birth_places_train.tsv": True, "birth_dev.tsv": True, "birth_test_inputs.tsv": False}
    for name, answers in {"wiki.txt": None, **checks}.items():
        path = data_dir / name
        try:
            if answers is None:
                docs = read_corpus(path)
                tokenizer = KnowGPTTokenizer.from_corpus("\n".join(docs))
                line = f"{len(docs)} documents, {tokenizer.vocab_size} vocabulary entries"
            else:
                pairs = read_qa(path, tokenizer, block_size, require_answers=answers)
                line = f"{len(pairs)} {'pairs' if answers else 'questions'}"
            sys.stdout.write(f"OK    {path}: {line}\n")
        except DataError as e:
            ok = False
            sys.stdout.write(f"ERROR {e}\n")
    return ok


def main(argv: list[str] | None = None) -> int:
    """`charcorruption|namedata FILE [--n 5]` shows examples; `validate DATA_DIR` checks files."""
    parser = argparse.ArgumentParser(prog="python -m hf_knowgpt.data", description=main.__doc__)
    parser.add_argument("command", choices=["charcorruption", "namedata", "validate"])
    parser.add_argument("path", type=Path, help="corpus or TSV file, or the data directory")
    parser.add_argument("--n", type=int, default=5, help="examples to show")
    parser.add_argument(
        "--corpus", type=Path, help="vocabulary corpus for namedata (default: wiki.txt beside FILE)"
    )
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objective", choices=["span", "lm"], default="span")
    parser.add_argument("--window", choices=list(NextCharLM.WINDOWS), default="prefix")
    parser.add_argument(
        "--salient", type=float, default=0.0, help="share of spans that are whole named entities"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return 0 if _validate(args.path, args.block_size) else 1
        if args.command == "charcorruption":
            tokenizer = KnowGPTTokenizer.from_corpus("\n".join(read_corpus(args.path)))
            dataset = pretraining_dataset(
                args.path,
                tokenizer,
                args.block_size,
                args.seed,
                args.objective,
                args.window,
                salient=args.salient,
            )
        else:
            corpus = args.corpus or args.path.with_name("wiki.txt")
            tokenizer = KnowGPTTokenizer.from_corpus(corpus if corpus.is_file() else args.path)
            dataset = birthplace_dataset(args.path, tokenizer, args.block_size)
        for i in range(min(args.n, len(dataset))):
            sys.stdout.write(f"example {i} (line {i + 1})\n{_show(tokenizer, dataset[i])}")
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0
