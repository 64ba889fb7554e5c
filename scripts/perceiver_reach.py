"""Where a pretrained Perceiver fails: its loss on biography text inside and beyond its slots' reach.

The Perceiver's position p reads the inputs <= min(p, m - 1) through its m slots, plus its own
embedding: so before position m it is a causal model like vanilla, and after it is blind to the
text in between. This script scores models on the first block_size characters of the biographies
of the people of a QA file (next-character loss, the course's objective on that text), split at
position --at (the Perceiver's m), and gives each model's answers to those people's questions.

    python scripts/perceiver_reach.py --models /work/runs/percmix_pre/model \\
        /work/runs/mixshuf_pre/model --data_dir ../shared/data/cs224n --n 200 \\
        --output results/mixed_training/cpu2h_mixed_perceiver64_reach.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from hf_knowgpt.data.formats import asked_name
from hf_knowgpt.data.readers import read_corpus, read_qa
from hf_knowgpt.evaluation import load_model
from hf_knowgpt.evaluation.scoring import evaluate_file
from hf_knowgpt.lab.runner import Started, write_result


def biography_of(name: str, corpus: list[str]) -> str | None:
    """The first corpus line that opens with the name, not followed by a letter or digit (the
    storage probe's rule, `evaluation.probe.storage_cases`)."""
    return next(
        (
            doc
            for doc in corpus
            if doc.startswith(name) and not doc[len(name) : len(name) + 1].isalnum()
        ),
        None,
    )


@torch.no_grad()
def position_losses(model, tokenizer, texts: list[str], at: int) -> tuple[float, float]:
    """Mean next-character loss of a loaded model over `texts`, before and from position `at`."""
    sums, counts = [0.0, 0.0], [0, 0]
    for text in texts:
        ids = torch.tensor([tokenizer.encode_chars(text[: model.config.block_size])])
        logits = model(ids).logits[0, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
        # nll[p] is the loss of the prediction made at position p (of the character at p + 1);
        # a Perceiver's position p < m reads every input <= p through its slots
        for part, chunk in enumerate((nll[:at], nll[at:])):
            sums[part] += float(chunk.sum())
            counts[part] += chunk.numel()
    return sums[0] / counts[0], sums[1] / counts[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True)
    p.add_argument("--qa_file", default="birth_places_train.tsv", help="under --data_dir")
    p.add_argument("--n", type=int, default=200, help="the first n people of the QA file")
    p.add_argument("--at", type=int, default=64, help="split the loss here (the handout's m)")
    p.add_argument("--output", type=Path, required=True)
    a = p.parse_args()
    started = Started()
    corpus = read_corpus(a.data_dir / "wiki.txt")
    qa_path = a.data_dir / a.qa_file
    loaded = {model_dir: load_model(model_dir) for model_dir in a.models}
    # the whole file read as the file it is, so that a bad line is named by its own file:line
    pairs = read_qa(qa_path, loaded[a.models[0]][1], require_answers=True)[: a.n]
    texts = [b for b in (biography_of(asked_name(q), corpus) for q, _ in pairs) if b]
    if not texts:
        raise SystemExit(f"{qa_path}: no corpus line opens with a name of its first {a.n} people")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / a.qa_file
        subset.write_text("".join(f"{q}\t{ans}\n" for q, ans in pairs), encoding="utf-8")
        for model_dir, (model, tokenizer) in loaded.items():
            cfg = model.config
            m = cfg.bottleneck_dim if cfg.attention_type == "perceiver" else None
            before, after = position_losses(model, tokenizer, texts, a.at)
            scored = evaluate_file(
                model, subset, Path(tmp) / "predictions.txt", tokenizer=tokenizer
            )
            rows.append({
                "model": str(model_dir), "m": m, "biographies": len(texts),
                "loss_before": round(before, 3), "loss_from": round(after, 3),
                "questions": scored["total"], "correct": scored["correct"],
                "accuracy": scored["accuracy"],
            })  # fmt: skip
            print(rows[-1])
    table = "\n".join(
        [f"| model | m | loss before position {a.at} | loss from {a.at} | answers to these questions |",
         "|---|---|---|---|---|"]
        + [f"| `{r['model']}` | {r['m'] or '-'} | {r['loss_before']} | {r['loss_from']} | "
           f"{r['correct']}/{r['questions']} |" for r in rows]
    )  # fmt: skip
    write_result(
        a.output.with_suffix(""),
        {"qa_file": str(qa_path), "n": a.n, "at": a.at, "rows": rows},
        "# Perceiver reach: next-character loss on biographies, inside and beyond the slots\n\n"
        f"{table}\n\nBiographies: the first block_size characters of the corpus line of each of the "
        f"first {a.n} people of `{qa_path}`; loss in nats per character.",
        started.provenance(),
    )


if __name__ == "__main__":
    main()
