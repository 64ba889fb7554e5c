"""Storage probe: does the model complete a person's biography with their birth place?

Answering "Where was X born?" (extraction) needs the fact stored first. The probe separates the two:
for each question with an answer it takes the person's biography (the first corpus line that begins
with the name), cuts it just before the first mention of the answer, and asks whether greedy
decoding would write the answer next. When a model memorises the training questions but has
not stored the biographies, dev accuracy and dev storage are both low; when it stores without
extracting, storage is high and accuracy low.

One teacher-forced forward pass per batch replaces generation: greedy decoding writes the answer
exactly when every answer character is the argmax after the characters before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..data.collators import PAD_ID
from ..data.formats import QUESTION, visible_chars
from ..data.readers import read_corpus, read_qa
from ..model.tokenization_knowgpt import MASK_CHAR
from ..utils import atomic_write_json, provenance
from .answers import load_model


class NothingToProbe(ValueError):
    """No person of the QA file can be probed (no biography names them and the place early on)."""


@dataclass(frozen=True)
class StorageCase:
    """A biography cut before the birth place (`prefix`), and the place (`answer`)."""

    name: str
    prefix: str
    answer: str


def storage_cases(
    documents: list[str], pairs: list[tuple[str, str]], block_size: int, cloze: bool = False
) -> list[StorageCase]:
    """The probe's cases: questions whose person has a biography that mentions the answer early.

    A person is skipped when no document begins with the name (followed by a non-letter), when
    the document never mentions the answer, or when prefix + answer do not fit in `block_size`.
    With `cloze`, the case is a span-corruption row instead, the place blanked out: the
    biography's first `visible_chars(block_size)` characters (all the course ever shows) as
    `before ⁇ after ⁇`, and the answer is what comes next. That is how a model pretrained on span
    corruption practises recalling a fact; people whose place lies past that cut are skipped.
    """
    key = 3  # documents indexed by their first characters; shorter names search them all
    by_start: dict[str, list[str]] = {}
    for doc in documents:
        by_start.setdefault(doc[:key], []).append(doc)
    cases = []
    for question, answer in pairs:
        match = QUESTION.fullmatch(question)
        if match is None or not answer:
            continue
        name = match.group(1)
        candidates = by_start.get(name[:key], []) if len(name) >= key else documents
        biography = next(
            (
                doc
                for doc in candidates
                if doc.startswith(name) and not doc[len(name) : len(name) + 1].isalnum()
            ),
            None,
        )
        at = -1 if biography is None else biography.find(answer)
        end = at + len(answer)
        if cloze and at > 0 and end <= visible_chars(block_size):
            after = biography[end : visible_chars(block_size)]
            cases.append(StorageCase(name, biography[:at] + MASK_CHAR + after + MASK_CHAR, answer))
        elif not cloze and at > 0 and end <= block_size:
            cases.append(StorageCase(name, biography[:at], answer))
    return cases


def prompt_cases(pairs: list[tuple[str, str]], template: str, block_size: int) -> list[StorageCase]:
    """Cases that ask in fixed words instead of the biography's: `template` with `{name}` filled in.

    A fact a model has stored against its name answers `"{name} was born in "` as well as its own
    biography's context; a biography memorised as a string of text answers only the latter.
    Questions not of the form "Where was NAME born?", and prompts + answers longer than
    `block_size`, are skipped.
    """
    if "{name}" not in template:
        raise ValueError(f"the prompt must contain {{name}}, got {template!r}")
    cases = []
    for question, answer in pairs:
        match = QUESTION.fullmatch(question)
        if match is None or not answer:
            continue
        prefix = template.replace("{name}", match.group(1))
        if len(prefix) + len(answer) <= block_size:
            cases.append(StorageCase(match.group(1), prefix, answer))
    return cases


@torch.no_grad()
def stored(model, tokenizer, cases: list[StorageCase], batch_size: int = 256) -> list[bool]:
    """For each case, whether greedy decoding after `prefix` writes exactly `answer`."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = []
    try:
        for start in range(0, len(cases), batch_size):
            batch = cases[start : start + batch_size]
            rows = [tokenizer.encode_chars(c.prefix + c.answer) for c in batch]
            width = max(len(r) for r in rows)
            # Right padding: under causal attention the PAD tail cannot change earlier positions.
            ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
            guess = model(input_ids=ids.to(device)).logits.argmax(-1).cpu()
            for i, (case, r) in enumerate(zip(batch, rows, strict=True)):
                cut = len(case.prefix)
                # The logits at position t predict token t + 1.
                results.append(bool((guess[i, cut - 1 : len(r) - 1] == ids[i, cut : len(r)]).all()))
    finally:
        model.train(was_training)
    return results


def storage_accuracy(model, tokenizer, cases: list[StorageCase], batch_size: int = 256) -> dict:
    """`{"storage": fraction stored, "stored": count, "probed": number of cases}`."""
    hits = stored(model, tokenizer, cases, batch_size)
    return {"storage": sum(hits) / max(len(hits), 1), "stored": sum(hits), "probed": len(hits)}


def probe_file(
    model_dir, corpus_file, qa_file, prompt: str | None = None, cloze: bool = False
) -> dict:
    """Storage of the people of `qa_file` (question, tab, answer) in the model at `model_dir`.

    With `prompt` (a template with `{name}`), the model reads that text instead of each person's
    biography from `corpus_file` (which may then be None). With `cloze`, it fills the place's blank
    in the biography's span-corruption form (`storage_cases`).
    """
    if prompt is not None and cloze:
        raise ValueError("give a prompt or cloze, not both")

    model, tokenizer = load_model(model_dir)
    pairs = read_qa(qa_file, tokenizer, require_answers=True)
    block_size = model.config.block_size
    if prompt is not None:
        cases = prompt_cases(pairs, prompt, block_size)
        tokenizer.encode_chars(prompt.replace("{name}", ""))  # unknown characters: a clear error
    else:
        cases = storage_cases(read_corpus(corpus_file), pairs, block_size, cloze=cloze)
    if not cases:
        where = "in the prompt's block" if prompt is not None else "early in their biography"
        raise NothingToProbe(f"{qa_file}: no person's answer can be probed {where}")
    return {**storage_accuracy(model, tokenizer, cases), "questions": len(pairs)}


def main(argv: list[str] | None = None) -> int:
    """`knowgpt probe --model_dir D (--corpus_file wiki.txt | --prompt T) --qa_file F [--output_file J]`."""
    import argparse

    p = argparse.ArgumentParser(prog="knowgpt probe", description=__doc__.splitlines()[0])
    p.add_argument("--model_dir", required=True, help="model folder or run directory")
    p.add_argument(
        "--corpus_file", help="the pretraining corpus (wiki.txt); needed without --prompt"
    )
    p.add_argument("--qa_file", required=True, help="QA TSV with answers, e.g. birth_dev.tsv")
    p.add_argument(
        "--prompt",
        help="probe with this text instead of the biography, {name} filled in, "
        "e.g. '{name}. {name} was born in '",
    )
    p.add_argument(
        "--cloze",
        action="store_true",
        help="blank the place out of the biography (`before⁇after⁇`, as span corruption does) "
        "and ask the model to fill it in, instead of continuing the biography",
    )
    p.add_argument("--output_file", help="also write the result as JSON, with its provenance")
    a = p.parse_args(argv)
    if a.corpus_file is None and a.prompt is None:
        p.error("give --corpus_file (probe with the biographies) or --prompt")
    if a.cloze and (a.prompt is not None or a.corpus_file is None):
        p.error("--cloze probes the biographies: give --corpus_file and no --prompt")
    start = time.perf_counter()
    result = probe_file(a.model_dir, a.corpus_file, a.qa_file, prompt=a.prompt, cloze=a.cloze)
    print(
        f"Stored: {result['stored']} out of {result['probed']} probed "
        f"({result['questions']} questions): {100 * result['storage']:.1f}%"
    )
    if a.output_file:
        result.update(
            model_dir=str(a.model_dir),
            qa_file=str(a.qa_file),
            **({"prompt": a.prompt} if a.prompt is not None else {}),
            **({"cloze": True} if a.cloze else {}),
            provenance=provenance(time.perf_counter() - start),
        )
        atomic_write_json(a.output_file, result)
    return 0
