"""Shared helpers: atomic writes keep the usual permissions and leave nothing behind; provenance;
the CPU's bf16."""

import errno
import os
import stat

import pytest

import hf_knowgpt.utils
from hf_knowgpt.utils import (
    atomic_directory,
    atomic_write_text,
    atomic_write_texts,
    cpu_has_native_bf16,
    git_commit,
    provenance,
)


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


def test_a_failed_atomic_directory_keeps_the_old_one_and_leaves_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights").write_text("old")
    real_replace = os.replace

    def replace(src, dst):  # the new folder's rename fails, after the old one was moved aside
        if str(src).endswith(".tmp"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(hf_knowgpt.utils.os, "replace", replace)
    with pytest.raises(OSError), atomic_directory(folder) as tmp:
        (tmp / "weights").write_text("new")
    assert (folder / "weights").read_text() == "old"
    with pytest.raises(RuntimeError), atomic_directory(folder) as tmp:
        raise RuntimeError("the save failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no .model.*.tmp, .model.old


def test_files_written_together_replace_their_old_versions_only_when_all_are_complete(
    tmp_path, monkeypatch
):
    pair = {tmp_path / "p.txt": "new\n", tmp_path / "p.txt.jsonl": "{}\n"}
    atomic_write_texts({path: "old\n" for path in pair})
    synced = []

    def fsync(fd):  # the disk is full when the second file is synced
        synced.append(fd)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hf_knowgpt.utils.os, "fsync", fsync)
    with pytest.raises(OSError, match="p.txt.jsonl: not written"):
        atomic_write_texts(pair)
    assert {p.read_text() for p in pair} == {"old\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.txt", "p.txt.jsonl"]


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


@pytest.mark.parametrize(
    "flags, native",
    [
        ("fpu avx512f avx512_bf16 sse", True),
        ("fpu amx_bf16 amx_tile", True),
        ("fpu avx2 avx512f", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(info) is native
    assert cpu_has_native_bf16(tmp_path / "missing") is False  # no /proc: assume emulated


def test_bf16_is_native_on_a_cpu_follows_its_flags(monkeypatch):
    from hf_knowgpt import utils

    for native in (True, False):
        monkeypatch.setattr(utils, "cpu_has_native_bf16", lambda native=native: native)
        assert utils.bf16_is_native("cpu") is native
    assert utils.bf16_is_native("meta") is False
