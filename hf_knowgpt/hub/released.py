"""The released models in `models/` (a checkout's folder; `models/index.json` lists them).

Each release is exactly the folder `knowgpt export` writes. The index is a JSON list of objects with
`name` (the folder), `stage` ("pretrained" or "finetuned"), `attention_type`, `recipe`, `hardware`,
`training_minutes` and, for finetuned models, `dev_accuracy`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
INDEX_KEYS = ("name", "stage", "attention_type", "recipe", "hardware", "training_minutes")


def read_index(models_dir: Path = MODELS_DIR) -> list[dict]:
    path = models_dir / "index.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no released models here (they ship with a checkout of hf_knowgpt); "
            "pass --model with a model folder"
        )
    entries = json.loads(path.read_text(encoding="utf-8"))
    for number, entry in enumerate(entries, 1):
        missing = [k for k in INDEX_KEYS if k not in entry]
        if entry.get("stage") == "finetuned" and "dev_accuracy" not in entry:
            missing.append("dev_accuracy")
        if missing:
            raise ValueError(f"{path}: entry {number} lacks {', '.join(missing)}")
    return entries


def resolve_model(name_or_dir: str | os.PathLike | None, models_dir: Path = MODELS_DIR) -> Path:
    """A model folder: the given folder, a released model by name, or (None) the best finetuned one."""
    if name_or_dir is not None and Path(name_or_dir).is_dir():
        return Path(name_or_dir)
    entries = read_index(models_dir)
    if name_or_dir is None:
        finetuned = [e for e in entries if e["stage"] == "finetuned"]
        if not finetuned:
            raise FileNotFoundError(f"{models_dir / 'index.json'}: no finetuned model released")
        return models_dir / max(finetuned, key=lambda e: e["dev_accuracy"])["name"]
    names = [e["name"] for e in entries]
    if str(name_or_dir) not in names:
        raise FileNotFoundError(
            f"{name_or_dir}: neither a model folder nor a released model ({', '.join(names)})"
        )
    return models_dir / str(name_or_dir)
