"""Answers: batched greedy decoding of `question⁇` with a confidence per answer, and prediction files.

The answer is the greedy continuation up to the next `⁇` (the course decodes 32 characters and splits
on `⁇`). The confidence of an answer is the probability the model gives to the whole continuation,
closing `⁇` included, so a low value flags a guess.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.formats import qa_prompt
from ..model.configuration_knowgpt import KnowGPTConfig
from ..model.modeling_knowgpt import KnowGPTForCausalLM
from ..model.tokenization_knowgpt import MASK_CHAR, KnowGPTTokenizer, OutOfVocabularyError
from ..utils import atomic_write_texts, check_model_folder, reading, resolve_model_dir

ABSTAIN = "<unknown>"  # the answer written when the confidence is below `min_confidence`


@dataclass
class Prediction:
    """One answered question.

    Args:
        question: the question as asked (without the `⁇`).
        answer: the answer given: the greedy text before the next `⁇`, or `ABSTAIN` when abstaining.
        confidence: probability of the greedy continuation (up to and including the closing `⁇`).
        raw_answer: the greedy text before the next `⁇`, even when the model abstained.
        alternatives: (answer, probability) of the best beam-search answers, most probable first.
        reference: the true answer, when the file has one.
    """

    question: str
    answer: str
    confidence: float
    raw_answer: str = ""
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    reference: str | None = None

    @property
    def abstained(self) -> bool:
        return self.answer != self.raw_answer

    @property
    def correct(self) -> bool | None:
        return None if self.reference is None else self.answer == self.reference

    def to_json(self) -> dict:
        record = {
            "question": self.question,
            "answer": self.answer,
            "raw_answer": self.raw_answer,
            "confidence": self.confidence,
            "alternatives": [[a, p] for a, p in self.alternatives],
        }
        if self.reference is not None:
            record.update(reference=self.reference, correct=self.correct)
        return record


def read_config(model_dir: Path) -> KnowGPTConfig:
    """A model folder's config, once the folder holds every file loading reads; a missing or
    malformed file is one line naming it."""
    check_model_folder(model_dir)
    with reading(model_dir / "config.json"):
        return KnowGPTConfig.from_pretrained(model_dir)


def load_model(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    config: KnowGPTConfig | None = None,
):
    """Load (model, tokenizer) from a run directory or a model folder, in eval mode.

    `config`: the folder's own, read with `read_config` and changed (finetuning's dropout).
    """
    model_dir = resolve_model_dir(path)
    config = config or read_config(model_dir)
    with reading(model_dir / "model.safetensors"):
        model = KnowGPTForCausalLM.from_pretrained(model_dir, config=config).eval()
    if device is not None:
        model.to(device)
    with reading(model_dir / "vocab.json"):
        return model, KnowGPTTokenizer.from_pretrained(model_dir)


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, T), rows padded on the left."""
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def _cut(generated: list[int], mask_id: int) -> tuple[list[int], int]:
    """(answer ids, number of generated ids it is scored on): up to the first ⁇, which counts."""
    if mask_id in generated:
        end = generated.index(mask_id)
        return generated[:end], end + 1
    return generated, len(generated)


def _greedy(model, rows, max_new: int, pad_id: int, mask_id: int, device):
    """Greedy continuations of a batch: list of (answer ids, confidence)."""
    ids, mask = _left_pad(rows, pad_id, device)
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new,
        do_sample=False,
        num_beams=1,
        eos_token_id=mask_id,  # a row stops at its closing ⁇; the batch when every row has stopped
        pad_token_id=pad_id,
        output_logits=True,
        return_dict_in_generate=True,
    )
    new = out.sequences[:, ids.size(1) :]  # (B, S)
    logp = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)  # (B, S, V)
    token_logp = logp.gather(-1, new.unsqueeze(-1)).squeeze(-1)  # (B, S)
    results = []
    for i, generated in enumerate(new.tolist()):
        answer, n = _cut(generated, mask_id)
        results.append((answer, math.exp(float(token_logp[i, :n].sum()))))
    return results


@torch.no_grad()
def continuation_probabilities(
    model, prompts: list[list[int]], continuations: list[list[int]], batch_size: int = 256
) -> list[float]:
    """P(continuation | prompt) for each pair, from one forward pass per batch (no generation)."""
    device = next(model.parameters()).device
    pad_id = model.config.pad_token_id
    probs = []
    pairs = list(zip(prompts, continuations, strict=True))
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        ids, mask = _left_pad([p + c for p, c in batch], pad_id, device)
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        width = ids.size(1)
        for i, (_, continuation) in enumerate(batch):
            n = len(continuation)
            targets = ids[i, width - n :]  # the continuation's ids
            steps = logp[i, width - n - 1 : width - 1]  # the logits that predict them
            probs.append(math.exp(float(steps.gather(-1, targets[:, None]).sum())))
    return probs


def _beam_alternatives(model, rows, k, max_new, pad_id, mask_id, device, decode):
    """The k best beam-search answers of each row as [(answer, probability)], most probable first."""
    ids, mask = _left_pad(rows, pad_id, device)
    sequences = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new,
        do_sample=False,
        num_beams=k,
        num_return_sequences=k,
        length_penalty=0.0,  # rank beams by their summed log-probability, i.e. by probability
        eos_token_id=mask_id,
        pad_token_id=pad_id,
    )[:, ids.size(1) :]
    prompts, continuations = [], []
    for j, generated in enumerate(sequences.tolist()):
        _, n = _cut(generated, mask_id)
        prompts.append(rows[j // k])
        continuations.append(generated[:n])
    probs = continuation_probabilities(model, prompts, continuations)
    result = []
    for i in range(len(rows)):
        best: dict[str, float] = {}
        for j in range(i * k, (i + 1) * k):
            answer = decode(_cut(continuations[j], mask_id)[0])
            best[answer] = max(best.get(answer, 0.0), probs[j])
        result.append(sorted(best.items(), key=lambda item: -item[1]))
    return result


@torch.no_grad()
def _encode_question(tokenizer, number: int, question: str) -> list[int]:
    """`question⁇` as ids; a character outside the vocabulary is an error naming the question."""
    try:
        return tokenizer.encode_chars(qa_prompt(question))
    except OutOfVocabularyError as e:
        raise ValueError(f"question {number} ({question[:60]!r}): {e}") from None


def predict(
    model,
    tokenizer,
    questions: list[str],
    *,
    batch_size: int = 256,
    max_new_tokens: int = 32,
    num_alternatives: int = 0,
    min_confidence: float | None = None,
    device: str | torch.device | None = None,
) -> list[Prediction]:
    """Answer questions by batched greedy decoding of `question⁇`; results in the input order.

    Args:
        model: a KnowGPTForCausalLM (any attention variant).
        tokenizer: its KnowGPTTokenizer.
        questions: e.g. "Where was Ada Lovelace born?" (no ⁇).
        batch_size: questions per generate() call; they are sorted by length first.
        max_new_tokens: at most this many characters are generated (also capped by block_size).
        num_alternatives: if > 0, also return that many beam-search answers with their probabilities.
        min_confidence: if set, answers whose confidence is below it become `ABSTAIN`.
        device: where to run; default: where the model is.
    """
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    block_size = model.config.block_size
    pad_id, mask_id = model.config.pad_token_id, tokenizer.convert_tokens_to_ids(MASK_CHAR)
    rows = [_encode_question(tokenizer, n, q) for n, q in enumerate(questions, 1)]
    too_long = next((i for i, r in enumerate(rows) if len(r) >= block_size), None)
    if too_long is not None:
        raise ValueError(
            f"question {too_long + 1} has {len(rows[too_long])} characters with its ⁇ but the model "
            f"reads at most {block_size} and must write at least one: {questions[too_long][:60]!r}"
        )
    # Rows of one batch share max_new_tokens, so batch rows with the same cap: batched == one by one.
    cap = [min(max_new_tokens, block_size - len(r)) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (-cap[i], len(rows[i])))
    batches = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and cap[batches[-1][0]] == cap[i]:
            batches[-1].append(i)
        else:
            batches.append([i])

    was_training = model.training
    model.eval()
    greedy: dict[int, tuple[list[int], float]] = {}
    alternatives: dict[int, list[tuple[str, float]]] = {}
    try:
        for batch in batches:
            batch_rows, n = [rows[i] for i in batch], cap[batch[0]]
            greedy.update(
                zip(batch, _greedy(model, batch_rows, n, pad_id, mask_id, device), strict=True)
            )
            if num_alternatives > 0:
                found = _beam_alternatives(
                    model,
                    batch_rows,
                    num_alternatives,
                    n,
                    pad_id,
                    mask_id,
                    device,
                    tokenizer.decode_chars,
                )
                alternatives.update(zip(batch, found, strict=True))
    finally:
        model.train(was_training)

    predictions = []
    for i, question in enumerate(questions):
        answer_ids, confidence = greedy[i]
        raw = tokenizer.decode_chars(answer_ids)
        predictions.append(
            Prediction(
                question=question,
                answer=raw,
                confidence=confidence,
                raw_answer=raw,
                alternatives=alternatives.get(i, []),
            )
        )
    return predictions if min_confidence is None else abstain(predictions, min_confidence)


def abstain(predictions: list[Prediction], threshold: float) -> list[Prediction]:
    """Copies of `predictions` that answer iff confidence ≥ threshold, and `ABSTAIN` otherwise.

    The answer given is the model's greedy answer (`raw_answer`), so a lower threshold than the one
    the predictions were made with brings abstained answers back. Confidence, raw answer and
    reference are unchanged; the inputs are not modified.
    """
    return [
        dataclasses.replace(p, answer=p.raw_answer if p.confidence >= threshold else ABSTAIN)
        for p in predictions
    ]


def write_predictions(path: str | os.PathLike, predictions: list[Prediction]) -> Path:
    """Write the course's file (one answer per line) and `path + ".jsonl"` (everything) as one pair.

    Both are complete on disk before either replaces an old one: an error leaves the old pair.
    """
    path = Path(path)
    # An answer is one line of the course file even if the model wrote a line break.
    course = "".join(p.answer.replace("\r", " ").replace("\n", " ") + "\n" for p in predictions)
    records = "".join(
        json.dumps(p.to_json(), ensure_ascii=False, allow_nan=False) + "\n" for p in predictions
    )
    atomic_write_texts({path.with_name(path.name + ".jsonl"): records, path: course})
    return path
