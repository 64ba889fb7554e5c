"""The README tells the truth: its test command is what CI runs, and its results block matches results/."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "pytest" in line)
    assert command in readme


def test_readme_results_block_is_generated_from_results():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_results.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_oldest_constraints_are_the_lower_bounds_of_setup_cfg():
    """CI's second run installs .ci/constraints-oldest.txt: each pin must be setup.cfg's lower bound,
    so the range setup.cfg claims is the range CI tests."""
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    lower = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^\s+([A-Za-z_-]+)>=([\d.]+)", setup, re.M)
    }
    pins = [
        line.split("==")
        for line in (ROOT / ".ci" / "constraints-oldest.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(pins) == 5
    for name, version in pins:
        assert lower[name.lower().replace("_", "-")] == version, name
