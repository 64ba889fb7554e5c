"""Fingerprint what the package does: a fixed-seed short pretraining and finetuning through the CLI.

Prints (or writes) the SHA-256 of every trained tensor and of the dev predictions. Run it before and after
a refactoring: equal fingerprints mean bit-identical weights and predictions (same machine, same stack).

    python scripts/check_behaviour.py --output /tmp/before.json     # at the old commit
    python scripts/check_behaviour.py --compare /tmp/before.json    # at the new one: exit 1 if different
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file

SMALL = ["--n_layer", "2", "--n_embd", "64", "--n_head", "4", "--block_size", "128", "--threads", "1",
         "--seed", "0", "--report_to", "none", "--logging_steps", "5"]  # fmt: skip


def knowgpt(*args: str, env: dict) -> None:
    cmd = [sys.executable, "-m", "hf_knowgpt.cli", *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")


def tensors_digest(path: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()
        for name, t in sorted(load_file(path).items())
    }


def fingerprint(work: Path) -> dict:
    env = {**os.environ, "HF_HOME": str(work / "hf_home"), "HF_HUB_OFFLINE": "1"}
    pre, fine = work / "pre", work / "fine"
    knowgpt("pretrain", "--recipe", "demo", "--max_steps", "12", "--output_dir", str(pre), *SMALL,
            env=env)  # fmt: skip
    knowgpt("finetune", "--recipe", "demo", "--max_steps", "6", "--pretrained_model", str(pre),
            "--output_dir", str(fine), *SMALL, env=env)  # fmt: skip
    predictions = (fine / "eval" / "dev_predictions.txt").read_bytes()
    return {
        "pretrained": tensors_digest(pre / "model" / "model.safetensors"),
        "finetuned": tensors_digest(fine / "model" / "model.safetensors"),
        "dev_predictions": hashlib.sha256(predictions).hexdigest(),
        "dev_predictions_lines": predictions.decode("utf-8").count("\n"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, help="write the fingerprint here")
    p.add_argument("--compare", type=Path, help="compare with this earlier fingerprint")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        fp = fingerprint(Path(work))
    if a.output:
        a.output.write_text(json.dumps(fp, indent=1) + "\n", encoding="utf-8")
    if a.compare:
        before = json.loads(a.compare.read_text(encoding="utf-8"))
        differ = [k for k in ("pretrained", "finetuned", "dev_predictions") if before[k] != fp[k]]
        print("identical" if not differ else f"DIFFERENT: {', '.join(differ)}")
        return 1 if differ else 0
    print(json.dumps(fp)[:200], "...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
