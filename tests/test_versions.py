"""One trained tiny model, two version sets of the Hugging Face stack: the same dev answers.

.ci/run runs the suite on the oldest releases setup.cfg allows with KNOWGPT_OTHER_PYTHON pointing at
the newest set's interpreter; this test then compares the two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PREDICT = Path(__file__).resolve().with_name("predict_tiny.py")
sys.path.insert(0, str(PREDICT.parent))
from predict_tiny import PEOPLE  # noqa: E402

OTHER_PYTHON = os.environ.get("KNOWGPT_OTHER_PYTHON")


def _answers(python: str, env: dict) -> dict:
    result = subprocess.run(
        [python, str(PREDICT)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def _versions(python: str) -> str:
    code = "import transformers, datasets, accelerate; print(transformers.__version__, datasets.__version__, accelerate.__version__)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(
    not OTHER_PYTHON,
    reason="set KNOWGPT_OTHER_PYTHON to another version set's python (.ci/run does)",
)
def test_same_answers_on_another_version_set(hf_env):
    assert _versions(OTHER_PYTHON) != _versions(sys.executable), "the same version set twice"
    env = {**hf_env, "PYTHONPATH": str(PREDICT.parents[1])}  # this checkout's code in both
    here, there = _answers(sys.executable, env), _answers(OTHER_PYTHON, env)
    for variant in here:
        assert [a["answer"] for a in here[variant]] == [a["answer"] for a in there[variant]], (
            variant
        )
        for a, b in zip(here[variant], there[variant], strict=True):
            assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6), (variant, a, b)
    # The model learned its people (so the answers compared are not all alike).
    assert [a["answer"] for a in here["vanilla"][:6]] == [place for _, place in PEOPLE]
