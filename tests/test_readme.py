"""The README tells the truth: its test command is what CI runs, its recipes are the package's, and the
generated tables (README.md's summary, RESULTS.md's tables) match results/."""

import re
import subprocess
import sys
from pathlib import Path

from hf_knowgpt.training.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "pytest" in line)
    assert command in README


def test_readme_is_for_users():
    """The README stays short; the lab notebook lives in RESULTS.md."""
    assert len(README.splitlines()) <= 260
    assert "(RESULTS.md)" in README


def test_readme_and_results_links_exist():
    for name in ("README.md", "RESULTS.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)\)", text):
            assert (ROOT / target).exists(), f"{name} links to {target}"


def test_readme_recipes_table_is_the_recipes():
    rows = re.findall(r"^\| `(\w+)` \|", README, re.M)
    assert rows == list(RECIPES)


def test_generated_tables_are_current():
    """README.md's summary and RESULTS.md's tables, regenerated from results/*.json, are unchanged."""
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
    assert len(pins) == 6
    for name, version in pins:
        assert lower[name.lower().replace("_", "-")] == version, name
