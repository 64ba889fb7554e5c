"""Shared fixtures of the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

CS224N_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cs224n"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: a second intra-op thread only adds synchronisation on a shared 2-core box."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cs224n_dir() -> Path:
    """The course data (wiki.txt, birth-place TSVs), shared next to the checkout."""
    if not (CS224N_DIR / "wiki.txt").is_file():
        pytest.skip(f"CS224N data not found at {CS224N_DIR}")
    return CS224N_DIR


# ---------------------------------------------------------------------------- isolated runs

SYNTHETIC_DIR = Path(__file__).resolve().parents[1] / "hf_knowgpt" / "data" / "corpus"


def _isolated_env(hf_home: Path) -> dict[str, str]:
    """os.environ with a private HF_HOME (accelerate reads $HF_HOME/accelerate/default_config.yaml
    unless told otherwise), the Hub offline, and no accelerate/torchrun settings leaking in."""
    import os

    hf_home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCELERATE_", "MASTER_", "LOCAL_RANK", "WORLD_SIZE", "RANK"))
    }
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def make_hf_env():
    """`make_hf_env(folder) -> env`: an isolated environment for subprocesses (any fixture scope)."""
    return _isolated_env


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """HF_HOME in tmp_path and HF_HUB_OFFLINE=1 for this test (in-process too); the env for subprocesses."""
    env = _isolated_env(tmp_path / "hf_home")
    monkeypatch.setenv("HF_HOME", env["HF_HOME"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return env


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A small data directory: 60 synthetic biographies (the first 59 and the first with a "?", so
    the vocabulary covers the questions), and per TSV 40 QA pairs that fit block_size 64
    (question + answer + the two ⁇ <= 64 characters) and use only corpus characters."""
    out = tmp_path_factory.mktemp("tiny_data")
    every = (SYNTHETIC_DIR / "wiki.txt").read_text(encoding="utf-8").splitlines()
    wiki = every[:59] + [next(line for line in every if "?" in line)]
    (out / "wiki.txt").write_text("\n".join(wiki) + "\n", encoding="utf-8")
    chars = set("".join(wiki)) | {"\t"}
    for name in ("birth_places_train.tsv", "birth_dev.tsv"):
        lines = (SYNTHETIC_DIR / name).read_text(encoding="utf-8").splitlines()
        fitting = [line for line in lines if len(line) + 1 <= 64 and set(line) <= chars]
        assert len(fitting) >= 40, f"{name}: only {len(fitting)} usable QA pairs"
        (out / name).write_text("\n".join(fitting[:40]) + "\n", encoding="utf-8")
    return out


@pytest.fixture
def reset_accelerate():
    """In-process training creates an Accelerator; forget its singleton state afterwards."""
    from accelerate.state import AcceleratorState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)
