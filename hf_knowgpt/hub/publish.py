"""Publishing on the Hugging Face Hub: a self-contained model folder with its model card, and the upload.

`export` writes exactly what `push` uploads: safetensors weights, config with the full `auto_map`,
the three code files (loadable with `trust_remote_code=True` where hf_knowgpt is not installed),
the tokenizer, the run's `run_info.json`/`eval_results.json` and a model card built from them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from ..model.configuration_knowgpt import AUTO_MAP
from ..utils import (
    atomic_directory,
    check_model_folder,
    refuse_overwriting_inputs,
    resolve_model_dir,
)
from .model_card import build_model_card, pipeline_snippet, redact, usage_snippet  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

CODE_FILES = ("configuration_knowgpt.py", "modeling_knowgpt.py", "tokenization_knowgpt.py")
MODEL_CODE_DIR = Path(__file__).resolve().parents[1] / "model"  # what export ships
TOKENIZER_FILES = ("vocab.json", "tokenizer_config.json", "special_tokens_map.json")
RUN_FILES = ("run_info.json", "eval_results.json")
TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_knowgpt.KnowGPTTokenizer", None]}
FULL_AUTO_MAP = {**AUTO_MAP, **TOKENIZER_AUTO_MAP}


class HubError(RuntimeError):
    """Publishing failed (no token, Hub unreachable or refusing); the message is one line."""


# ---------------------------------------------------------------------------- the run's files


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix or delete it") from None


def locate_run(src: str | os.PathLike) -> tuple[Path, Path | None]:
    """(model folder, run directory or None) of a run directory, a run's model/ or an exported folder."""
    src = Path(src)
    model_dir = resolve_model_dir(src)
    candidates = [src, model_dir] + ([model_dir.parent] if model_dir.name == "model" else [])
    for run_dir in candidates:
        if any((run_dir / name).is_file() for name in RUN_FILES):
            return model_dir, run_dir
    return model_dir, None


def _copy_json(src: Path, dst: Path, update: dict | None = None) -> None:
    obj = json.loads(src.read_text(encoding="utf-8"))
    obj.update(update or {})
    dst.write_text(redact(json.dumps(obj, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")


def export(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    repo_id: str | None = None,
) -> Path:
    """Write the folder `push` uploads (weights, config, code, tokenizer, run records, README.md).

    Args:
        src: a run directory (with model/) or a model folder.
        out_dir: the folder to create; written atomically (a failure leaves nothing behind).
        overwrite: replace `out_dir` if it exists.
        repo_id: the Hub repository named in the model card's usage example.
    """
    model_dir, run_dir = locate_run(src)
    out_dir = Path(out_dir)
    refuse_overwriting_inputs({"the export folder": out_dir}, [model_dir, run_dir])
    check_model_folder(model_dir)
    run_info = _read_json(run_dir / "run_info.json") if run_dir else None
    eval_results = _read_json(run_dir / "eval_results.json") if run_dir else None

    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        shutil.copyfile(model_dir / "model.safetensors", tmp / "model.safetensors")
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        _copy_json(
            model_dir / "config.json",
            tmp / "config.json",
            {"auto_map": {**config.get("auto_map", {}), **FULL_AUTO_MAP}},
        )
        if (model_dir / "generation_config.json").is_file():
            _copy_json(model_dir / "generation_config.json", tmp / "generation_config.json")
        for name in CODE_FILES:  # always the package's own code, never whatever the folder holds
            theirs = model_dir / name
            if theirs.is_file() and theirs.read_bytes() != (MODEL_CODE_DIR / name).read_bytes():
                logger.warning(
                    "%s differs from this package's %s; exporting the package's code", theirs, name
                )
            shutil.copyfile(MODEL_CODE_DIR / name, tmp / name)
        for name in TOKENIZER_FILES:
            if (model_dir / name).is_file():
                _copy_json(model_dir / name, tmp / name)
        tok_config = tmp / "tokenizer_config.json"
        if tok_config.is_file():
            _copy_json(tok_config, tok_config, {"auto_map": TOKENIZER_AUTO_MAP})
        for name, obj in (("run_info.json", run_info), ("eval_results.json", eval_results)):
            if obj is not None:
                _copy_json(run_dir / name, tmp / name)
        report = None
        if run_dir and (run_dir / "report" / "accuracy_coverage.png").is_file():
            # `knowgpt report` was run: the card shows its accuracy-coverage curve
            report = _read_json(run_dir / "report" / "report.json")
            shutil.copy2(
                run_dir / "report" / "accuracy_coverage.png", tmp / "accuracy_coverage.png"
            )
        card = build_model_card(model_dir, run_info, eval_results, repo_id, confidence=report)
        (tmp / "README.md").write_text(str(card), encoding="utf-8")
    logger.info("exported %s to %s", model_dir, out_dir)
    return out_dir


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a Hub call raises when the Hub is unreachable, offline, or refuses."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [
        HfHubHTTPError,
        OfflineModeIsEnabled,
        HFValidationError,
        ConnectionError,
        TimeoutError,
    ]
    # huggingface_hub 1.x uses httpx, 2.x its fork httpx2; requests may still be underneath.
    for module, name in (
        ("httpx2", "HTTPError"),
        ("httpx", "HTTPError"),
        ("requests", "RequestException"),
    ):
        try:
            errors.append(getattr(__import__(module), name))
        except ImportError:
            pass
    return tuple(errors)


def _describe(error: BaseException, repo_id: str, token: str) -> str:
    """One line saying why publishing failed and what to do, never containing the token."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    detail = " ".join(str(error).split())
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, OfflineModeIsEnabled):
        why = "offline mode is on (HF_HUB_OFFLINE=1); unset it to publish"
    elif isinstance(error, HFValidationError):
        why = f"invalid repository id: {detail}"
    elif isinstance(error, HfHubHTTPError) and status == 401:
        why = "the Hub rejected the token (401); check HF_TOKEN or run `hf auth login`"
    elif isinstance(error, HfHubHTTPError) and status == 403:
        why = "the token may not write there (403); use a token with write access"
    elif isinstance(error, HfHubHTTPError):
        why = f"the Hub answered HTTP {status}: {detail}"
    else:
        why = f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} ({type(error).__name__}: {detail})"
    message = f"could not push to {repo_id}: {why}"
    return redact(message.replace(token, "***")) if token else redact(message)


def _refuse_token_in_files(folder: Path, token: str) -> None:
    needle = token.encode()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and needle in path.read_bytes():
            raise HubError(f"refusing to upload {path.name}: it contains the access token")


def push(
    src: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
) -> str:
    """Export a run (or model folder) and upload it to a Hub model repository; returns the commit URL.

    Args:
        src: a run directory or a model folder.
        repo_id: "user/name" (created if missing).
        private: create the repository as private (an existing one keeps its visibility).
        revision: branch to upload to, created from main if missing.
        commit_message: defaults to "Upload KnowGPT (<attention>) with hf_knowgpt".
        token: a write token; default: HF_TOKEN or the one saved by `hf auth login`.
        create_pr: open a pull request instead of committing directly (returns its URL).

    Raises:
        HubError: no token, or the Hub is unreachable / refuses (one-line message).
    """
    import huggingface_hub
    from huggingface_hub import HfApi

    token = token or huggingface_hub.get_token()
    if not token:
        raise HubError(
            "no Hugging Face token: set HF_TOKEN, run `hf auth login`, or pass a token "
            "(it needs write access)"
        )
    with tempfile.TemporaryDirectory(prefix="knowgpt-push-") as tmp:
        folder = export(src, Path(tmp) / "upload", repo_id=repo_id)
        _refuse_token_in_files(folder, token)
        if commit_message is None:
            attention = json.loads((folder / "config.json").read_text())["attention_type"]
            commit_message = f"Upload KnowGPT ({attention}) with hf_knowgpt"
        api = HfApi(token=token)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            if revision:
                api.create_branch(url.repo_id, branch=revision, exist_ok=True, repo_type="model")
            info = api.upload_folder(
                repo_id=url.repo_id,
                folder_path=folder,
                commit_message=commit_message,
                revision=revision,
                create_pr=create_pr,
                repo_type="model",
            )
        except _hub_errors() as e:
            raise HubError(_describe(e, repo_id, token)) from None
    result = info.pr_url if create_pr and getattr(info, "pr_url", None) else info.commit_url
    logger.info("pushed %s to %s", src, result)
    return result
