"""A run directory's safety: its lock, its checkpoints, and the check that a resume continues *this* run.

Checkpoints are `Accelerator.save_state` folders written under a temporary name and renamed into place,
so `checkpoints/checkpoint_NNNNNNN` is always complete. Each also holds `trainer_state.json`: the step
counters, the LR schedule's state and the run's signature (job, model config, data files), which a
resume must match exactly.

Why not accelerate's `ProjectConfiguration(automatic_checkpoint_naming=True, total_limit=...)` and
`register_for_checkpointing`: accelerate writes its `checkpoint_N` folders in place, so a run killed
mid-save leaves a folder with the final name that is not whole, and the counters would travel in a
pickle. A temporary name renamed into place keeps every `checkpoint_N` complete, and trainer_state.json
(plain JSON, with the run's signature) is read and checked before `load_state` touches the model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import load  # torch.load(weights_only=True), numpy's RNG arrays allowed
from safetensors import safe_open

from ..utils import usual_permissions

CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")
LOCK_NAME = ".knowgpt.lock"


class RunInUseError(OSError):
    """Another live process holds the run directory's lock."""


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint of a run (incomplete ones never carry the final name)."""
    root = Path(output_dir) / "checkpoints"
    found = [
        (int(m.group(1)), p)
        for p in root.glob("checkpoint_*")
        if (m := CHECKPOINT_RE.match(p.name))
    ]
    return max(found)[1] if found else None


def save_checkpoint(accelerator: Accelerator, out: Path, trainer_state: dict, keep: int) -> Path:
    """`save_state` into a temporary folder, then rename it into place and prune old checkpoints.

    A failure (disk full, a signal) removes the half-written folder and keeps the last good
    checkpoint; an error is one line naming both. A killed run's temporary folders go first.
    """
    root = out / "checkpoints"
    step = trainer_state["state"]["step"]
    final = root / f"checkpoint_{step:07d}"
    if final.exists():
        return final
    tmp = root / f".tmp_checkpoint_{step:07d}"
    try:
        if accelerator.is_main_process:
            for stale in root.glob(".tmp_checkpoint_*"):  # the run's lock makes them no one's
                shutil.rmtree(stale, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()  # every rank's random states are in tmp before the rename
        if accelerator.is_main_process:
            (tmp / "trainer_state.json").write_text(json.dumps(trainer_state))
            usual_permissions(tmp)
            os.replace(tmp, final)
    except Exception as e:  # OSError (ENOSPC), torch's RuntimeError, safetensors' own error
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(
            f"{final}: not saved ({reason}); kept the last good checkpoint, "
            f"{latest_checkpoint(out) or 'none'} (free some space, then --resume_from_checkpoint latest)"
        ) from e
    finally:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already once renamed
    if accelerator.is_main_process:
        complete = sorted(p for p in root.glob("checkpoint_*") if CHECKPOINT_RE.match(p.name))
        for old in complete[: max(0, len(complete) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_checkpoint(ckpt: Path, signature: dict, num_processes: int) -> dict:
    """The checkpoint's trainer state, after checking that it belongs to this run and is whole."""
    if not CHECKPOINT_RE.match(ckpt.name):
        raise ValueError(
            f"{ckpt}: not a complete checkpoint (complete ones are named checkpoint_N)"
        )
    path = ckpt / "trainer_state.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e}); resume from another checkpoint") from None
    theirs = saved.get("signature")
    if theirs != signature:
        differ = sorted(
            k for k in {**signature, **(theirs or {})} if (theirs or {}).get(k) != signature.get(k)
        )
        raise ValueError(
            f"{ckpt}: checkpoint of another run (differs in {', '.join(differ)}); resume with the "
            "same job, model and data, or start a new run"
        )
    for rank in range(num_processes):  # accelerate only logs a missing or broken RNG state
        _check_random_states(ckpt / f"random_states_{rank}.pkl")
    for weights in sorted(ckpt.glob("model*.safetensors")):
        _check_readable(weights, lambda f: safe_open(f, "pt").keys())
    for state in sorted(ckpt.glob("optimizer*.bin")):  # accelerate's own files, weights_only
        _check_readable(state, lambda f: load(f, map_location="cpu"))
    return saved


def _check_readable(path: Path, read, consequence: str = ""):
    """`read(path)`, or one line naming the file: accelerate's `load_state` would be a traceback."""
    try:
        return read(path)
    except Exception as e:  # garbage bytes, a truncated file, a pickle of forbidden globals
        raise ValueError(
            f"{path}: unreadable ({type(e).__name__}){consequence}; resume from another checkpoint"
        ) from None


def _check_random_states(path: Path) -> None:
    """Refuse a missing, empty or unreadable RNG state file (loaded weights_only: no code runs)."""
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError(f"{path}: missing or empty, so the resume would not be exact")
    states = _check_readable(
        path, lambda f: load(f, map_location="cpu"), ", so the resume would not be exact"
    )
    keys = set(states) if isinstance(states, dict) else set()  # a pickled list, a number: none
    missing = {"random_state", "numpy_random_seed", "torch_manual_seed"} - keys
    if missing:
        raise ValueError(
            f"{path}: lacks {', '.join(sorted(missing))}; resume from another checkpoint"
        )


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the records of steps up to `step` (a resume replays the later ones)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


class RunLock:
    """An exclusive lock on a run directory (`.knowgpt.lock`, holding the owner's pid and host).

    A second run on the same directory gets a one-line error naming the running process; the lock of
    a process that no longer runs (on this host) is taken over.
    """

    def __init__(self, out: Path):
        self.path = out / LOCK_NAME

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and self._alive(owner):
                    raise RunInUseError(
                        f"{self.path.parent} is in use by process {owner['pid']} on {owner['host']}; "
                        "wait for it, stop it, or choose another --output_dir"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return self
        raise RunInUseError(f"{self.path}: could not take the lock")

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(owner: dict) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # another machine's process: cannot tell, so assume it runs
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
