"""Answer questions with a released folder where hf_knowgpt cannot be imported (transformers only).

Usage: python tests/remote_answers.py FOLDER QUESTIONS_FILE   -> JSON {"generate": [...], "pipeline": [...]}
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from remote_load import BlockPackage  # noqa: E402

MASK = "⁇"


def main(folder: str, questions_file: str) -> None:
    os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="knowgpt_hf_home_"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.meta_path.insert(0, BlockPackage())
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    torch.set_num_threads(1)
    questions = [q for q in open(questions_file, encoding="utf-8").read().splitlines() if q]
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    mask_id = tok.convert_tokens_to_ids(MASK)

    def answer(
        new_ids: list[int],
    ) -> str:  # the text before the next ⁇ (decode drops special tokens)
        return tok.decode(new_ids[: new_ids.index(mask_id)] if mask_id in new_ids else new_ids)

    batch = tok([q + MASK for q in questions], padding=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=32, do_sample=False)
    generated = [answer(row[batch["input_ids"].size(1) :].tolist()) for row in out]
    pipe = pipeline("text-generation", model=folder, trust_remote_code=True)
    piped = []
    for q in questions:
        ids = pipe(q + MASK, max_new_tokens=32, do_sample=False, return_tensors=True)[0]
        piped.append(answer(list(ids["generated_token_ids"])[len(tok(q + MASK)["input_ids"]) :]))
    assert not [m for m in sys.modules if m.split(".")[0] == "hf_knowgpt"]
    print(json.dumps({"generate": generated, "pipeline": piped}, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
