"""`knowgpt data charcorruption|namedata FILE` shows examples; `knowgpt data validate DATA_DIR` checks files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model.tokenization_knowgpt import PAD_CHAR, KnowGPTTokenizer
from .formats import IGNORE_INDEX
from .objectives import NextCharLM
from .pipelines import birthplace_dataset, pretraining_dataset
from .readers import DataError, read_corpus, read_qa, vocabulary


def _show(tokenizer, row) -> str:
    """Input without its PAD tail, and the labels with -100 shown as `·`."""
    ids, labels = [int(i) for i in row["input_ids"]], [int(i) for i in row["labels"]]
    text = tokenizer.decode_chars(ids).rstrip(PAD_CHAR)
    shown = "".join("·" if i == IGNORE_INDEX else tokenizer.decode_chars([i]) for i in labels)
    return (
        f"  input : {text!r} + {len(ids) - len(text)}×{PAD_CHAR}\n  labels: {shown.rstrip('·')!r}\n"
    )


def _check(out: list[str], kind: str, read, path: Path, *args) -> bool:
    """Append `OK path: N kind` (N items of `read(path, *args)`) or `ERROR <the DataError>` to `out`."""
    try:
        out.append(f"OK    {path}: {len(read(path, *args))} {kind}")
        return True
    except DataError as e:
        out.append(f"ERROR {e}")
        return False


def _validate(data_dir: Path, block_size: int) -> bool:
    """Print one line per file of a data directory; True when all are valid.

    Dev and test are checked against the vocabulary a model trained here gets (`readers.vocabulary`).
    """
    wiki, train = data_dir / "wiki.txt", data_dir / "birth_places_train.tsv"
    out: list[str] = []
    wiki_ok = _check(out, "documents", read_corpus, wiki)
    train_ok = _check(out, "pairs", read_qa, train, None, block_size, True)
    tokenizer = vocabulary(wiki, train if train_ok else None) if wiki_ok else None
    if tokenizer is not None:
        out[0] += f", {tokenizer.vocab_size} vocabulary entries"
    dev_ok = _check(out, "pairs", read_qa, data_dir / "birth_dev.tsv", tokenizer, block_size, True)
    test_ok = _check(
        out, "questions", read_qa, data_dir / "birth_test_inputs.tsv", tokenizer, block_size, False
    )
    sys.stdout.write("".join(line + "\n" for line in out))
    return wiki_ok and train_ok and dev_ok and test_ok


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
            tokenizer = vocabulary(args.path)
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
            tokenizer = (
                vocabulary(corpus) if corpus.is_file() else KnowGPTTokenizer.from_corpus(args.path)
            )
            dataset = birthplace_dataset(args.path, tokenizer, args.block_size)
        for i in range(min(args.n, len(dataset))):
            sys.stdout.write(f"example {i} (line {i + 1})\n{_show(tokenizer, dataset[i])}")
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0
