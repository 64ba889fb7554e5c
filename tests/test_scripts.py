"""The scripts folder: `python scripts/x.py` puts scripts/ first on sys.path, so no script may shadow a library."""

import sys
from importlib.machinery import PathFinder
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DEPENDENCIES = {
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "evaluate",
    "huggingface_hub",
    "safetensors",
    "tensorboard",
    "tqdm",
    "numpy",
    "matplotlib",
    "hf_knowgpt",
}


def test_no_script_shadows_an_installed_module():
    names = {p.stem for p in SCRIPTS.glob("*.py")}
    assert not names & DEPENDENCIES
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != SCRIPTS]
    assert not [
        n for n in names if n in sys.builtin_module_names or PathFinder.find_spec(n, elsewhere)
    ]


def test_job_scripts_exist_for_accelerate_launch():
    for job in ("pretrain", "finetune", "evaluate_model", "baseline", "demo"):
        assert (SCRIPTS / f"{job}.py").is_file()
