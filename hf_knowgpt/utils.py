"""Small shared helpers: atomic file writes and the provenance every result carries."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_permissions(folder: Path) -> None:
    """Give the files in `folder` the process umask's permissions: libraries (safetensors,
    accelerate) write 0600 files, which another user then cannot read."""
    for file in folder.rglob("*"):
        if file.is_file():
            os.chmod(file, 0o666 & ~_umask())


def _temporary_copy(path: Path, text: str) -> Path:
    """A complete, synced temporary sibling of `path` holding `text` (removed if writing fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:  # the bytes given, on every OS
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # disk full: say which file, in one line
            raise OSError(f"{path}: not written ({e.strerror or e}); the old one is kept") from e
        raise
    return Path(tmp)


def atomic_write_texts(texts: dict[str | os.PathLike, str]) -> None:
    """Write files that belong together: each is complete on disk before any replaces its old version,
    so an error (disk full) leaves the old set whole and no temporary file behind."""
    paths = {Path(p): text for p, text in texts.items()}
    for path in paths:
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a directory; give a file path to write")
    temporary: list[Path] = []
    try:
        for path, text in paths.items():
            temporary.append(_temporary_copy(path, text))
        for tmp, path in zip(temporary, paths, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file and `os.replace`, so readers never see half a file."""
    atomic_write_texts({path: text})
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `path`, on error it is removed
    (and `path` stays as it was)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old = path.with_name(f".{path.name}.old")
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        yield tmp
        usual_permissions(tmp)
        if not path.exists():
            os.replace(tmp, path)
            return
        shutil.rmtree(old, ignore_errors=True)  # a killed run's
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)  # put the old one back
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def refuse_overwriting_inputs(outputs: dict[str, str | os.PathLike | None], inputs) -> None:
    """The one rule for every command that writes: an output is never an input, nor a folder holding one.

    Args:
        outputs: flag name -> the path that command will write or replace (None: not written).
        inputs: the paths the command reads (None entries are skipped).
    """
    # realpath, not Path.resolve: a symbolic link loop is the reader's one-line error, not a RuntimeError.
    read = [Path(os.path.realpath(i)) for i in inputs if i]
    for flag, given in outputs.items():
        if not given:
            continue
        out = Path(os.path.realpath(given))
        for path in read:
            if path == out or out in path.parents:
                raise ValueError(
                    f"{flag} {given} would overwrite an input ({path}); choose another path"
                )


MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.json",
)  # what loading a model folder reads


def check_model_folder(model_dir: Path) -> None:
    """Refuse, naming the file, a model folder that lacks a file loading reads (safetensors only)."""
    for name in MODEL_FILES:
        if not (model_dir / name).is_file():
            pickle = " (pickled weights are never loaded)" if list(model_dir.glob("*.bin")) else ""
            raise FileNotFoundError(
                f"{model_dir / name}: missing{pickle}; export or save the model again"
            )


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Turn whatever a library raises on a malformed file into one line naming that file."""
    try:
        yield
    except Exception as e:  # safetensors, json and config errors have no common base
        lines = str(e).strip().splitlines()
        raise ValueError(f"{path}: {lines[0] if lines else type(e).__name__}") from e


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """The model folder of a run directory (`run/model/`) or a model folder itself (has config.json)."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{path}: neither a model folder (config.json) nor a run directory (model/config.json)"
    )


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current git commit (with `-dirty` if the tree has changes), or "unknown" outside a repository.

    `$KNOWGPT_GIT_COMMIT`, if set, is the answer: the commit of an exported copy of the tree (e.g.
    on a rented GPU machine, whose `.git` may be absent or stale).
    """
    if os.environ.get("KNOWGPT_GIT_COMMIT"):
        return os.environ["KNOWGPT_GIT_COMMIT"]
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # results/ is what runs write: a rewritten result is not dirty code
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top,exclude)results"],
            cwd=cwd,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_description() -> str:
    """CPU model (and whether it multiplies bf16 in hardware, which the recipes' precision follows),
    core count and accelerator, in one line."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    bf16 = "bf16 native" if cpu_has_native_bf16() else "bf16 emulated"
    return f"{cpu} ({bf16}), {cores} CPU cores, {gpu}, torch {torch.__version__}"


def cpu_has_native_bf16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX): only then does bf16 autocast
    train faster than fp32 (1.7x on AMD EPYC with AVX512-BF16, results/throughput.md)."""
    with contextlib.suppress(OSError):
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def bf16_is_native(device: torch.device | str) -> bool:
    """Whether `device` multiplies bf16 in hardware: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX. Elsewhere bf16 is emulated, slower than fp32: a fast-path training step 20x
    slower under bf16 autocast, Muon's bf16 Newton–Schulz 34-70x (2 AMD EPYC cores without AVX512)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()


def provenance(
    wall_seconds: float | None = None, command: list[str] | None = None, commit: str | None = None
) -> dict:
    """What every result file records: the command, git commit, date, machine and wall time.

    Long runs pass `commit=git_commit()` taken when they start: the code that ran, even if the
    working tree changes while they train.
    """
    return {
        "command": shlex.join(
            command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]
        ),
        "git_commit": commit or git_commit(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "wall_seconds": None if wall_seconds is None else round(wall_seconds, 1),
    }
