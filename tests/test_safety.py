"""Nothing lost, nothing silently wrong: each case is a real command that once lost data or ran wrong.

Every in-process run is tiny (2 steps of a 2-layer model on a 60-line corpus).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import accelerate.checkpointing
import pytest
import torch
from accelerate.state import AcceleratorState
from errors import one_error_line
from safetensors.torch import load_file

import hf_knowgpt.utils
from hf_knowgpt.cli import main
from hf_knowgpt.training.checkpoints import LOCK_NAME, latest_checkpoint

TINY = ["--n_layer", "2", "--n_embd", "32", "--n_head", "2", "--block_size", "64", "--batch_size", "8",
        "--report_to", "none", "--threads", "1", "--logging_steps", "1"]  # fmt: skip

pytestmark = pytest.mark.usefixtures("hf_env", "reset_accelerate")


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def pretrained(tmp_path, tiny_data_dir, reset_accelerate) -> Path:
    run = tmp_path / "pre"
    assert main(["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(run),
                 "--max_steps", "2", "--save_steps", "1", *TINY]) == 0  # fmt: skip
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    return run


def test_finetune_into_its_own_pretrained_run_is_refused(pretrained, tiny_data_dir, capsys):
    before = _snapshot(pretrained)
    rc = main(["finetune", "--pretrained_model", str(pretrained), "--output_dir", str(pretrained),
               "--overwrite_output_dir", "--data_dir", str(tiny_data_dir), *TINY])  # fmt: skip
    assert rc == 1 and "would overwrite an input" in one_error_line(capsys)
    assert _snapshot(pretrained) == before


def test_export_over_the_folder_holding_the_source_is_refused(pretrained, capsys):
    before = _snapshot(pretrained)
    assert main(["export", str(pretrained), str(pretrained.parent), "--overwrite"]) == 1
    assert "would overwrite an input" in one_error_line(capsys)
    assert _snapshot(pretrained) == before


def test_overwrite_keeps_the_old_run_when_the_new_inputs_are_bad(pretrained, tmp_path, capsys):
    before = _snapshot(pretrained)
    bad = tmp_path / "bad.txt"
    bad.write_text("a fine line\n\n", encoding="utf-8")  # a blank document
    rc = main(["pretrain", "--corpus_file", str(bad), "--output_dir", str(pretrained),
               "--overwrite_output_dir", "--max_steps", "2", *TINY])  # fmt: skip
    assert rc == 1 and f"{bad}:2:" in one_error_line(capsys)
    assert _snapshot(pretrained) == before


@pytest.mark.parametrize("flag", ["--output_file", "--score_file"])
def test_evaluate_never_writes_over_its_eval_file(
    pretrained, tiny_data_dir, tmp_path, flag, capsys
):
    dev = tmp_path / "dev.tsv"
    dev.write_bytes((tiny_data_dir / "birth_dev.tsv").read_bytes())
    before = dev.read_bytes()
    rc = main(["evaluate", "--model_dir", str(pretrained), "--eval_file", str(dev), flag, str(dev)])
    assert rc == 1 and "would overwrite an input" in one_error_line(capsys)
    assert dev.read_bytes() == before


def test_finetune_checks_its_eval_file_before_training(tiny_data_dir, tmp_path, capsys):
    bad = tmp_path / "dev.tsv"
    bad.write_text("Where was Ada born?\tLondon\nWhere was Bo born?  Paris\n", encoding="utf-8")
    run = tmp_path / "ft"
    rc = main(["finetune", "--data_dir", str(tiny_data_dir), "--eval_file", str(bad),
               "--output_dir", str(run), "--max_steps", "2", *TINY])  # fmt: skip
    assert rc == 1 and f"{bad}:2:" in one_error_line(capsys)
    assert not (run / "checkpoints").exists() and not (run / "model").exists()


def test_a_run_directory_in_use_is_refused_and_a_stale_lock_taken_over(
    tiny_data_dir, tmp_path, capsys
):
    run = tmp_path / "run"
    run.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / LOCK_NAME).write_text(json.dumps({"pid": alive.pid, "host": os.uname().nodename}))
        args = [
            "pretrain",
            "--data_dir",
            str(tiny_data_dir),
            "--output_dir",
            str(run),
            "--max_steps",
            "2",
            *TINY,
        ]
        assert main(args) == 1
        line = one_error_line(capsys)
        assert f"in use by process {alive.pid}" in line
    finally:
        alive.kill()
        alive.wait()
    # The owner is gone: its lock is stale, taken over, and released at the end.
    assert main(args) == 0
    assert (run / "model" / "model.safetensors").is_file() and not (run / LOCK_NAME).exists()


def test_a_new_run_does_not_append_to_a_dead_runs_metrics(tiny_data_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        json.dumps({"step": 99, "loss": 1.0}) + "\n"
    )  # no checkpoint
    assert main(["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(run),
                 "--max_steps", "2", *TINY]) == 0  # fmt: skip
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_resume_from_another_job_or_variant_or_a_broken_checkpoint_is_refused(
    pretrained, tiny_data_dir, capsys, reset_accelerate
):
    from accelerate.state import AcceleratorState

    ckpt = latest_checkpoint(pretrained)
    common = [
        "--data_dir",
        str(tiny_data_dir),
        "--output_dir",
        str(pretrained),
        "--max_steps",
        "4",
        *TINY,
    ]
    cases = [
        (["finetune", "--resume_from_checkpoint", str(ckpt)], "checkpoint of another run (differs in job"),
        (["pretrain", "--resume_from_checkpoint", "latest", "--attention_type", "synthesizer"], "differs in model"),
        (["pretrain", "--resume_from_checkpoint", "latest", "--n_embd", "64"], "differs in model"),
    ]  # fmt: skip
    tmp = ckpt.with_name(".tmp_checkpoint_0000009")
    tmp.mkdir()
    cases.append((["pretrain", "--resume_from_checkpoint", str(tmp)], "not a complete checkpoint"))
    for argv, message in cases:
        assert main([argv[0], *common, *argv[1:]]) == 1, argv  # the case's flags last: they win
        assert message in one_error_line(capsys), argv
        AcceleratorState._reset_state(reset_partial_state=True)
    (ckpt / "random_states_0.pkl").write_bytes(b"")
    assert main(["pretrain", "--resume_from_checkpoint", "latest", *common]) == 1
    assert "random_states_0.pkl: missing or empty" in one_error_line(capsys)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tiny_data_dir, tmp_path, capsys
):
    run = tmp_path / "run"
    rc = main(["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(run), "--max_steps", "30",
               "--save_steps", "1", "--learning_rate", "1e30", "--lr_schedule", "constant", *TINY])  # fmt: skip
    assert rc == 1
    line = one_error_line(capsys)
    assert "non-finite loss" in line
    assert not (run / "model").exists() and not (run / "run_info.json").exists()
    last = latest_checkpoint(run)
    if last is not None:  # every checkpoint kept holds finite weights
        assert all(torch.isfinite(t).all() for t in load_file(last / "model.safetensors").values())
        assert str(last) in line


def test_written_files_get_the_umask_permissions(pretrained, tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    for folder in (pretrained / "model", tmp_path / "export"):
        if folder.name == "export":
            assert main(["export", str(pretrained), str(folder)]) == 0
        mode = stat.S_IMODE((folder / "model.safetensors").stat().st_mode)
        assert mode == 0o666 & ~umask, oct(mode)
    for file in latest_checkpoint(pretrained).iterdir():  # accelerate's save_state writes 0600
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, (file, oct(file.stat().st_mode))


@pytest.mark.slow
def test_two_runs_collide_one_wins_and_resumes_exactly_after_sigint(
    tiny_data_dir, tmp_path, make_hf_env
):
    """A second run on a running directory gets one line; the first, interrupted by SIGINT, saves a
    checkpoint, exits non-zero, and its resume ends bit-identical to an uninterrupted run."""
    env = make_hf_env(tmp_path / "hf_home")
    # Long enough to be still running when the second run starts (an exact resume makes the
    # moment of the interrupt irrelevant to the final weights).
    common = ["--data_dir", str(tiny_data_dir), "--max_steps", "1500", "--seed", "0", *TINY,
              "--logging_steps", "50"]  # fmt: skip

    def knowgpt(*args):
        return [sys.executable, "-m", "hf_knowgpt.cli", "pretrain", *args, *common]

    reference = subprocess.run(
        knowgpt("--output_dir", str(tmp_path / "ref")), env=env, capture_output=True, text=True
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    run = tmp_path / "run"
    first = subprocess.Popen(
        knowgpt("--output_dir", str(run)), env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)  # training has begun: the lock is held
        second = subprocess.run(
            knowgpt("--output_dir", str(run)), env=env, capture_output=True, text=True
        )
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by process {first.pid}" in lines[0], second.stderr
        assert first.poll() is None, "the first run ended before the interrupt: make it longer"
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err[-2000:]
    assert latest_checkpoint(run) is not None and not (run / "model").exists()
    resumed = subprocess.run(knowgpt("--output_dir", str(run), "--resume_from_checkpoint", "latest"),
                             env=env, capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = (
        load_file(tmp_path / "ref" / "model" / "model.safetensors"),
        load_file(run / "model" / "model.safetensors"),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(
        range(50, 1501, 50)
    )  # truncated to the checkpoint on resume: no step twice


def _break(folder: Path, how: str) -> str:
    """Damage a copy of a model folder; return the file the error must name."""
    if how == "truncated weights":
        with open(folder / "model.safetensors", "r+b") as f:
            f.truncate(9000)
        return "model.safetensors"
    if how == "pickle instead of safetensors":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        return "model.safetensors: missing (pickled weights are never loaded)"
    if how == "missing vocab":
        (folder / "vocab.json").unlink()
        return "vocab.json: missing"
    config = json.loads((folder / "config.json").read_text())
    config.update(
        {"unknown attention": {"attention_type": "bogus"}, "negative layers": {"n_layer": -1}}[how]
    )
    (folder / "config.json").write_text(json.dumps(config))
    return "config.json"


@pytest.mark.parametrize(
    "how", ["truncated weights", "pickle instead of safetensors", "missing vocab", "unknown attention",
            "negative layers"],
)  # fmt: skip
@pytest.mark.parametrize("command", ["evaluate", "finetune"])
def test_a_damaged_model_folder_is_one_line_naming_the_file(
    pretrained, tiny_data_dir, tmp_path, how, command, capsys
):
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(pretrained / "model", folder)
    named = _break(folder, how)
    before = _snapshot(folder)
    if command == "evaluate":
        argv = [
            "evaluate",
            "--model_dir",
            str(folder),
            "--eval_file",
            str(tiny_data_dir / "birth_dev.tsv"),
        ]
    else:
        argv = ["finetune", "--pretrained_model", str(folder), "--data_dir", str(tiny_data_dir),
                "--output_dir", str(tmp_path / "ft"), "--max_steps", "1", *TINY]  # fmt: skip
    assert main(argv) == 1
    assert f"{folder / named}" in one_error_line(capsys)
    assert _snapshot(folder) == before and not (tmp_path / "ft" / "model").exists()


def test_evaluate_replaces_its_pair_only_when_both_files_are_complete(
    pretrained, tiny_data_dir, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "preds.txt"
    argv = ["evaluate", "--model_dir", str(pretrained), "--eval_file",
            str(tiny_data_dir / "birth_dev.tsv"), "--output_file", str(out)]  # fmt: skip
    out.mkdir()  # the .txt cannot be written: its .jsonl is not written either
    assert main(argv) == 1 and f"{out}: is a directory" in one_error_line(capsys)

    def written() -> list[str]:
        return sorted(p.name for p in tmp_path.iterdir() if "preds" in p.name)

    assert written() == ["preds.txt"]
    out.rmdir()
    out.write_text("old\n")
    out.with_name("preds.txt.jsonl").write_text("old\n")
    synced = []

    def fsync(fd):  # the disk is full when the second file of the pair is synced
        synced.append(fd)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hf_knowgpt.utils.os, "fsync", fsync)
    assert main(argv) == 1 and "No space left on device" in one_error_line(capsys)
    assert out.read_text() == out.with_name("preds.txt.jsonl").read_text() == "old\n"
    assert written() == ["preds.txt", "preds.txt.jsonl"]  # and no temporary file


def test_a_checkpoint_save_removes_the_temporary_folder_of_a_killed_save(pretrained, tiny_data_dir):
    stale = pretrained / "checkpoints" / ".tmp_checkpoint_0000003"  # killed while saving step 3
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    assert main(["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(pretrained),
                 "--resume_from_checkpoint", "latest", "--max_steps", "4", "--save_steps", "2",
                 *TINY]) == 0  # fmt: skip
    assert not stale.exists() and latest_checkpoint(pretrained).name == "checkpoint_0000004"


def test_a_run_removes_the_model_folders_a_killed_run_left_half_made(pretrained, tiny_data_dir):
    half = [pretrained / ".model.x1y2.tmp", pretrained / ".model.old"]  # killed while saving model/
    for folder in half:
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    assert main(["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(pretrained),
                 "--resume_from_checkpoint", "latest", "--max_steps", "3", *TINY]) == 0  # fmt: skip
    assert not any(folder.exists() for folder in half)
    assert (pretrained / "model" / "model.safetensors").stat().st_size > 100


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"),
     RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file")],
)  # fmt: skip
def test_a_disk_full_during_a_checkpoint_keeps_the_last_good_one(
    tiny_data_dir, tmp_path, monkeypatch, capsys, error
):
    real_save = accelerate.checkpointing.save

    def save(obj, f, *args, **kwargs):  # the weights of step 2 are written, then the disk is full
        if ".tmp_checkpoint_0000002" in str(f) and "optimizer" in str(f):
            raise error
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(accelerate.checkpointing, "save", save)
    run = tmp_path / "run"
    argv = ["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(run),
            "--max_steps", "3", "--save_steps", "1", *TINY]  # fmt: skip
    assert main(argv) == 1
    line = one_error_line(capsys)
    first = run / "checkpoints" / "checkpoint_0000001"
    assert f"{run / 'checkpoints' / 'checkpoint_0000002'}: not saved" in line and str(first) in line
    assert str(error).split(" .")[0] in line
    assert [p.name for p in (run / "checkpoints").iterdir()] == [first.name]
    assert not (run / "model").exists()
    monkeypatch.undo()
    AcceleratorState._reset_state(reset_partial_state=True)
    assert main([*argv, "--resume_from_checkpoint", "latest"]) == 0  # the kept one is whole


def test_a_corrupt_random_state_file_is_refused_and_never_unpickled(
    pretrained, tiny_data_dir, tmp_path, capsys
):
    marker = tmp_path / "code_ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    states = latest_checkpoint(pretrained) / "random_states_0.pkl"
    argv = ["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(pretrained),
            "--max_steps", "4", "--resume_from_checkpoint", "latest", *TINY]  # fmt: skip
    for content in (b"\x93NUMPY garbage, not a torch file", pickle.dumps(Exploit(), protocol=2)):
        states.write_bytes(content)
        assert main(argv) == 1
        assert f"{states}: unreadable" in one_error_line(capsys)
        AcceleratorState._reset_state(reset_partial_state=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, spoil",
    [
        ("optimizer.bin", lambda p: p.write_bytes(b"garbage, not a torch file")),
        ("optimizer.bin", lambda p: p.write_bytes(pickle.dumps({"state": 1}, protocol=2))),
        ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        ("model.safetensors", lambda p: p.write_bytes(b"\x00" * 16)),
    ],
    ids=["optimizer garbage", "optimizer a plain pickle", "weights truncated", "weights garbage"],
)
def test_resuming_from_a_damaged_checkpoint_file_is_one_line_naming_it(
    pretrained, tiny_data_dir, capsys, name, spoil
):
    damaged = latest_checkpoint(pretrained) / name
    spoil(damaged)
    argv = ["pretrain", "--data_dir", str(tiny_data_dir), "--output_dir", str(pretrained),
            "--max_steps", "4", "--resume_from_checkpoint", "latest", *TINY]  # fmt: skip
    assert main(argv) == 1
    assert f"{damaged}: unreadable" in one_error_line(capsys)
