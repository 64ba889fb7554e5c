"""Print, as JSON, the dev answers of a tiny model trained here with a fixed seed (every variant).

tests/test_versions.py runs this under two interpreters (two version sets of the Hugging Face stack)
and requires the same answers: training is plain torch, so any difference comes from the stack's
generation, tokenizer or model-loading code. Usage: python tests/predict_tiny.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny import memorised_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from hf_knowgpt import MASK_CHAR, KnowGPTTokenizer  # noqa: E402
from hf_knowgpt.evaluation.answers import predict  # noqa: E402

PEOPLE = [("Ada Lovelace", "London"), ("Bo Diddley", "Mississippi"), ("Carl Nielsen", "Odense"),
          ("Dora Maar", "Paris"), ("Fela Kuti", "Abeokuta"), ("Hans Arp", "Strasbourg")]  # fmt: skip
STRANGERS = ["Ivo Andric", "Joan Miro", "Kurt Weill"]  # never trained on: free-running answers


def answers(attention_type: str) -> list[dict]:
    torch.set_num_threads(1)
    questions = [f"Where was {n} born?" for n, _ in PEOPLE] + [
        f"Where was {n} born?" for n in STRANGERS
    ]
    text = "".join(q + p for q, (_, p) in zip(questions, PEOPLE, strict=False)) + "".join(STRANGERS)
    tokenizer = KnowGPTTokenizer.from_corpus(text)
    rows = [q + MASK_CHAR + p + MASK_CHAR for q, (_, p) in zip(questions, PEOPLE, strict=False)]
    firsts = [len(q) for q in questions[: len(PEOPLE)]]
    model = memorised_model(tokenizer, rows, firsts, steps=60, attention_type=attention_type)
    with tempfile.TemporaryDirectory() as folder:  # through save/load, as users get a model
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
    return [
        {"question": p.question, "answer": p.answer, "confidence": p.confidence}
        for p in predict(model, tokenizer, questions, batch_size=4)
    ]


if __name__ == "__main__":
    print(json.dumps({a: answers(a) for a in ("vanilla", "synthesizer", "perceiver")}))
