"""Shared helpers: atomic writes keep the usual permissions."""

import os
import stat

from hf_knowgpt.utils import atomic_directory, atomic_write_text, git_commit, provenance


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_directory(tmp_path / "folder") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


def test_provenance_keeps_the_commit_a_run_started_from():
    started = git_commit()
    record = provenance(12.34, ["knowgpt", "demo"], commit=started)
    assert record["git_commit"] == started and record["command"] == "knowgpt demo"
    assert record["wall_seconds"] == 12.3 and record["date"].endswith("UTC")
    assert provenance(commit="0123abc-dirty")["git_commit"] == "0123abc-dirty"


def test_an_exported_tree_names_its_commit(monkeypatch, tmp_path):
    """A copy of the tree on another machine has no (or a stale) .git: the variable names the commit."""
    monkeypatch.delenv("KNOWGPT_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) == "unknown"  # not a repository
    monkeypatch.setenv("KNOWGPT_GIT_COMMIT", "3cc10ac4eb13")
    assert git_commit(tmp_path) == "3cc10ac4eb13"
    assert provenance()["git_commit"] == "3cc10ac4eb13"
