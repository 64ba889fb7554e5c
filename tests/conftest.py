"""Shared fixtures of the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

CS224N_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cs224n"


@pytest.fixture(scope="session")
def cs224n_dir() -> Path:
    """The course data (wiki.txt, birth-place TSVs), shared next to the checkout."""
    if not (CS224N_DIR / "wiki.txt").is_file():
        pytest.skip(f"CS224N data not found at {CS224N_DIR}")
    return CS224N_DIR
