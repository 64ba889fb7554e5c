"""Load saved KnowGPT folders as remote code in a clean environment (hf_knowgpt not importable).

Usage: python tests/remote_load.py [--hf-home DIR] FOLDER [FOLDER ...]

Each FOLDER holds a model and tokenizer saved with `save_pretrained` plus the references written by
tests/test_model.py: `reference.safetensors` (input_ids, logits, hidden, prompt, generated) and
`reference.json` (text, ids). The script blocks `hf_knowgpt` with a `sys.meta_path` finder (the
editable install's own finder would still find it otherwise), uses an empty HF_HOME offline, loads
every folder with the Auto classes and `trust_remote_code=True`, checks that the classes come from
`transformers_modules`, and compares with the references. It exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import os
import sys
import tempfile


class BlockPackage(importlib.abc.MetaPathFinder):
    """Make `hf_knowgpt` (and its submodules) unimportable, as on a machine without the package."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] == "hf_knowgpt":
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


def check_folder(folder: str) -> str:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    ref = load_file(os.path.join(folder, "reference.safetensors"))
    with open(os.path.join(folder, "reference.json"), encoding="utf-8") as f:
        ref_text = json.load(f)

    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    module = type(model).__module__
    assert module.startswith("transformers_modules."), module
    assert type(model).__name__ == "KnowGPTForCausalLM", type(model)
    with torch.no_grad():
        logits = model(ref["input_ids"]).logits
    torch.testing.assert_close(logits, ref["logits"], atol=1e-6, rtol=0)
    n_new = ref["generated"].size(1) - ref["prompt"].size(1)
    generated = model.generate(ref["prompt"], max_new_tokens=n_new, do_sample=False)
    assert torch.equal(generated, ref["generated"]), (generated, ref["generated"])
    uncached = model.generate(ref["prompt"], max_new_tokens=n_new, do_sample=False, use_cache=False)
    assert torch.equal(uncached, ref["generated"]), "use_cache=False differs from the cached answer"
    manual = ref["prompt"]
    with torch.no_grad():
        for _ in range(n_new):  # greedy by hand, no cache, no generate
            manual = torch.cat([manual, model(manual).logits[:, -1].argmax(-1, keepdim=True)], -1)
    assert torch.equal(manual, ref["generated"]), "a manual greedy loop differs from generate"

    base = AutoModel.from_pretrained(folder, trust_remote_code=True)
    assert type(base).__module__.startswith("transformers_modules."), type(base).__module__
    assert type(base).__name__ == "KnowGPTModel", type(base)
    with torch.no_grad():
        hidden = base(ref["input_ids"]).last_hidden_state
    torch.testing.assert_close(hidden, ref["hidden"], atol=1e-6, rtol=0)

    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    assert type(tok).__module__.startswith("transformers_modules."), type(tok).__module__
    assert type(tok).__name__ == "KnowGPTTokenizer", type(tok)
    assert tok(ref_text["text"])["input_ids"] == ref_text["ids"]
    assert tok.decode(ref_text["ids"]) == ref_text["text"]

    prompts = ["where was he born", "a", "london 1901."]  # a left-padded batch == one by one
    batch = tok(prompts, padding=True, return_tensors="pt")
    assert batch["attention_mask"][1, 0] == 0, "expected left padding"
    width = batch["input_ids"].size(1)
    together = model.generate(**batch, max_new_tokens=6, do_sample=False)
    for row, prompt in enumerate(prompts):
        single = tok(prompt, return_tensors="pt")
        alone = model.generate(**single, max_new_tokens=6, do_sample=False)
        assert torch.equal(together[row, width:], alone[0, single["input_ids"].size(1) :]), prompt
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-home", help="empty HF_HOME to use (default: a fresh temporary dir)")
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)

    # Before transformers is imported: it reads these at import time.
    os.environ["HF_HOME"] = args.hf_home or tempfile.mkdtemp(prefix="knowgpt_hf_home_")
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.meta_path.insert(0, BlockPackage())
    try:
        import hf_knowgpt  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("hf_knowgpt is still importable; the clean-environment check is void")

    import torch

    torch.set_num_threads(1)
    for folder in args.folders:
        print(f"OK {folder} {check_folder(folder)}", flush=True)
    leaked = sorted(name for name in sys.modules if name.split(".")[0] == "hf_knowgpt")
    assert not leaked, leaked


if __name__ == "__main__":
    main()
