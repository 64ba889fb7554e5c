"""A normal install (not editable) and a wheel carry everything: the built-in corpus and the metric
module are package data, so `knowgpt pretrain` and `knowgpt demo` work from any directory."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _venv(path: Path) -> Path:
    """A venv that sees this one's dependencies (a .pth line) but not its editable hf_knowgpt."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(target, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def _pip(python: Path, *args: str) -> None:
    # this venv's pip and setuptools, run by the new interpreter: no download, no build isolation
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args, "--no-deps",
         "--no-build-isolation", "--no-index", "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def _knowgpt_works(python: Path, cwd: Path, env: dict) -> None:
    where = subprocess.run(
        [str(python), "-c", "import hf_knowgpt; print(hf_knowgpt.__file__)"],
        cwd=cwd, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert str(python.parents[1]) in where.stdout, (
        where.stdout,
        where.stderr,
    )  # the installed copy
    knowgpt = python.parent / "knowgpt"
    run = cwd / "run"
    for argv in (
        ["pretrain", "--recipe", "demo", "--max_steps", "2", "--n_layer", "1", "--n_embd", "32",
         "--n_head", "2", "--report_to", "none", "--output_dir", str(run)],
        ["demo", "--help"],
    ):  # fmt: skip
        result = subprocess.run(
            [str(knowgpt), *argv], cwd=cwd, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, (argv, result.stderr[-3000:])
    assert (run / "model" / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["install", "wheel"])
def test_non_editable_install_runs_from_another_directory(how, tmp_path, hf_env):
    python = _venv(tmp_path / "venv")
    env = {**hf_env, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    src = tmp_path / "src"  # a copy, so the build leaves the checkout untouched
    junk = (
        ".git",
        ".venv*",
        "runs",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
        "models",
    )
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*junk))
    if how == "install":
        _pip(python, "install", str(src))
    else:
        dist = tmp_path / "dist"
        _pip(python, "wheel", str(src), "-w", str(dist))
        (wheel,) = dist.glob("hf_knowgpt-*.whl")
        _pip(python, "install", str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _knowgpt_works(python, elsewhere, env)
