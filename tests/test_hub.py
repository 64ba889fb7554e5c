"""Hub publishing, offline: the exported folder, the model card, push() against mocks, remote loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

try:
    import httpx2
except ImportError:  # huggingface_hub < 2 uses httpx itself
    import httpx as httpx2
import huggingface_hub
import pytest
import torch
from huggingface_hub import CommitInfo, HfApi, ModelCard, RepoUrl
from huggingface_hub.errors import HfHubHTTPError

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.evaluation.answers import predict
from hf_knowgpt.hub.publish import HubError, export, pipeline_snippet, push, usage_snippet

VARIANTS = ["vanilla", "synthesizer", "perceiver"]
FAKE_TOKEN = "hf_" + "FakeTokenForTests" * 2
QUESTION = "Where was Ada Lovelace born?"
EXPECTED_FILES = {
    "README.md",
    "config.json",
    "configuration_knowgpt.py",
    "eval_results.json",
    "generation_config.json",
    "model.safetensors",
    "modeling_knowgpt.py",
    "run_info.json",
    "tokenization_knowgpt.py",
    "tokenizer_config.json",
    "vocab.json",
}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def make_run(root: Path, attention_type: str = "vanilla", *, eval_results: bool = True) -> Path:
    """A run directory as the trainer writes it, with a tiny random-init model."""
    tokenizer = KnowGPTTokenizer.from_corpus(QUESTION + "London Paris, born in the city of Rome.")
    config = KnowGPTConfig(
        vocab_size=tokenizer.vocab_size,
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=64,
        attention_type=attention_type,
        bottleneck_dim=8 if attention_type == "perceiver" else None,
    )
    torch.manual_seed(0)
    run = root / f"run-{attention_type}"
    KnowGPTForCausalLM(config).save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    run_info = {
        "recipe": "cs224n",
        "attention_type": attention_type,
        "job": "finetune",
        "corpus": "data/cs224n/wiki.txt",
        "train_file": "data/cs224n/birth_places_train.tsv",
        "pretrained_from": "runs/pretrain",
        "epochs": 10.0,
        "steps": 80,
        "tokens": 2621440,
        "batch_size": 256,
        "learning_rate": 0.0006,
        "lr_schedule": "cs224n",
        "train_minutes": 3.25,
        "provenance": {
            "command": f"knowgpt finetune --hub_token {FAKE_TOKEN}",  # must be redacted
            "git_commit": "abc123def456",
            "date": "2026-11-22 05:00 UTC",
            "machine": "AMD EPYC, 2 CPU cores, no GPU",
            "wall_seconds": 201.5,
        },
    }
    (run / "run_info.json").write_text(json.dumps(run_info), encoding="utf-8")
    if eval_results:
        dev = {"accuracy": 0.123, "correct": 61, "total": 500, "eval_file": "birth_dev.tsv"}
        dev["london_baseline"] = 0.0456
        (run / "eval_results.json").write_text(json.dumps({"dev": dev}), encoding="utf-8")
    return run


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path)


def _all_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*"))


# ---------------------------------------------------------------------------- export and card


def test_export_writes_exactly_the_upload_folder(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "export", repo_id="me/knowgpt")
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_knowgpt.KnowGPTConfig",
        "AutoModel": "modeling_knowgpt.KnowGPTModel",
        "AutoModelForCausalLM": "modeling_knowgpt.KnowGPTForCausalLM",
        "AutoTokenizer": ["tokenization_knowgpt.KnowGPTTokenizer", None],
    }
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["auto_map"] == {
        "AutoTokenizer": ["tokenization_knowgpt.KnowGPTTokenizer", None]
    }
    assert json.loads((out / "eval_results.json").read_text())["dev"]["accuracy"] == 0.123
    assert FAKE_TOKEN not in _all_text(out)  # redacted from run_info's command
    # the model folder itself (run_dir/model) exports the same, run records found next to it
    again = export(run_dir / "model", tmp_path / "again")
    assert {p.name for p in again.iterdir()} == EXPECTED_FILES


def test_model_card_parses_back_with_the_runs_numbers(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "export", repo_id="me/knowgpt")
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert (data.language, data.license, data.library_name) == ("en", "mit", "transformers")
    assert data.pipeline_tag == "text-generation"
    assert {"custom_code", "knowgpt", "character-level", "vanilla-attention"} <= set(data.tags)
    metrics = {(e.dataset_split, e.metric_name): e.metric_value for e in data.eval_results}
    assert metrics == {
        ("dev", "Exact-match accuracy"): 0.123,
        ("dev", "London baseline accuracy (always answers London)"): 0.0456,
    }
    assert all(e.task_type == "text-generation" for e in data.eval_results)
    assert data.eval_results[0].dataset_name == "CS224N birth places (dev)"
    model = KnowGPTForCausalLM.from_pretrained(run_dir / "model")
    text = card.text
    assert f"{model.num_parameters():,} parameters" in text
    assert "12.3 %" in text and "4.6 %" in text and "61 / 500" in text
    for fact in ("abc123def456", "2026-11-22 05:00 UTC", "AMD EPYC", "`cs224n`", "3.25 minutes"):
        assert fact in text
    assert "AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True)" in text
    assert 'repo = "me/knowgpt"' in text and "Where was Bryan Dubreuiel born?⁇" in text
    assert "## Limitations" in text and "never saw" in text


def test_card_shows_the_runs_confidence_report(run_dir, tmp_path):
    report = run_dir / "report"
    report.mkdir()
    (report / "accuracy_coverage.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    coverage = [
        {"coverage": c, "accuracy": a, "threshold": t}
        for c, a, t in ((1.0, 0.2, 0.0), (0.2, 0.61, 0.42))
    ]
    (report / "report.json").write_text(json.dumps({"dev": {"n": 500, "coverage": coverage}}))
    out = export(run_dir, tmp_path / "export")
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "## Knowing what it knows" in text and "| 20 % | 61.0 % | 0.42 |" in text
    assert (out / "accuracy_coverage.png").read_bytes().startswith(b"\x89PNG")
    assert (
        "Knowing what it knows"
        not in (export(make_run(tmp_path / "plain"), tmp_path / "e2") / "README.md").read_text()
    )


def test_card_without_eval_results_says_so(tmp_path):
    run = make_run(tmp_path, "synthesizer", eval_results=False)
    out = export(run, tmp_path / "export")
    assert "eval_results.json" not in {p.name for p in out.iterdir()}
    readme = (out / "README.md").read_text()
    assert "model-index" not in readme and "No evaluation results were recorded" in readme
    card = ModelCard.load(out / "README.md")
    assert card.data.eval_results is None and "synthesizer-attention" in card.data.tags


def test_export_is_atomic_and_refuses_to_overwrite(run_dir, tmp_path):
    out = tmp_path / "export"
    with mock.patch("hf_knowgpt.hub.publish.build_model_card", side_effect=RuntimeError("boom")):
        with pytest.raises(RuntimeError, match="boom"):
            export(run_dir, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [run_dir.name]
    export(run_dir, out)
    with pytest.raises(FileExistsError):
        export(run_dir, out)
    export(run_dir, out, overwrite=True)
    with pytest.raises(FileNotFoundError, match="neither a model folder"):
        export(tmp_path / "nowhere", tmp_path / "x")


# ---------------------------------------------------------------------------- push


@pytest.fixture
def no_saved_token(monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def _mock_hub(captured: dict):
    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])  # a temporary folder, gone after push returns
        captured["files"] = {p.name for p in folder.iterdir()}
        captured["text"] = _all_text(folder)
        captured["card"] = ModelCard.load(folder / "README.md")
        return CommitInfo(
            commit_url="https://huggingface.co/me/knowgpt/commit/0123abcd",
            commit_message=kwargs["commit_message"],
            commit_description="",
            oid="0123abcd",
        )

    return (
        mock.patch.object(
            HfApi, "create_repo", return_value=RepoUrl("https://huggingface.co/me/knowgpt")
        ),
        mock.patch.object(HfApi, "create_branch"),
        mock.patch.object(HfApi, "upload_folder", autospec=True, side_effect=upload_folder),
    )


def test_push_uploads_the_exported_folder(run_dir, no_saved_token):
    captured = {}
    patches = _mock_hub(captured)
    with patches[0] as create_repo, patches[1] as create_branch, patches[2] as upload:
        url = push(
            run_dir,
            "me/knowgpt",
            private=True,
            revision="v1",
            commit_message="first upload",
            token=FAKE_TOKEN,
        )
    assert url == "https://huggingface.co/me/knowgpt/commit/0123abcd"
    create_repo.assert_called_once_with(
        "me/knowgpt", private=True, exist_ok=True, repo_type="model"
    )
    create_branch.assert_called_once_with(
        "me/knowgpt", branch="v1", exist_ok=True, repo_type="model"
    )
    kwargs = upload.call_args.kwargs
    assert kwargs["repo_id"] == "me/knowgpt" and kwargs["revision"] == "v1"
    assert kwargs["commit_message"] == "first upload" and kwargs["create_pr"] is False
    assert upload.call_args.args[0].token == FAKE_TOKEN  # HfApi(token=...) carries it
    assert captured["files"] == EXPECTED_FILES
    assert FAKE_TOKEN not in captured["text"]
    assert captured["card"].data.eval_results[0].metric_value == 0.123


def test_push_takes_the_token_from_the_environment(run_dir, no_saved_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    captured = {}
    patches = _mock_hub(captured)
    with patches[0], patches[1] as create_branch, patches[2] as upload:
        push(run_dir, "me/knowgpt")
    create_branch.assert_not_called()
    assert upload.call_args.args[0].token == FAKE_TOKEN
    assert upload.call_args.kwargs["commit_message"] == "Upload KnowGPT (vanilla) with hf_knowgpt"


def test_push_can_open_a_pull_request(run_dir):
    pr = CommitInfo(
        commit_url="https://huggingface.co/me/knowgpt/commit/1",
        commit_message="m",
        commit_description="",
        oid="1",
        pr_url="https://huggingface.co/me/knowgpt/discussions/7",
    )
    with (
        mock.patch.object(
            HfApi, "create_repo", return_value=RepoUrl("https://huggingface.co/me/knowgpt")
        ),
        mock.patch.object(HfApi, "upload_folder", return_value=pr) as upload,
    ):
        assert push(run_dir, "me/knowgpt", token=FAKE_TOKEN, create_pr=True) == pr.pr_url
    assert upload.call_args.kwargs["create_pr"] is True


def test_push_refuses_a_folder_that_contains_the_token(run_dir):
    token = "my-secret-token-without-the-hf-prefix"
    info_file = run_dir / "run_info.json"
    info_file.write_text(info_file.read_text().replace("git_commit", token), encoding="utf-8")
    with (
        mock.patch.object(HfApi, "create_repo") as create_repo,
        pytest.raises(HubError, match="refusing to upload run_info.json") as info,
    ):
        push(run_dir, "me/knowgpt", token=token)
    assert token not in str(info.value)
    create_repo.assert_not_called()


def test_push_without_token_creates_nothing(run_dir, no_saved_token):
    with (
        mock.patch.object(HfApi, "create_repo") as create_repo,
        mock.patch.object(HfApi, "upload_folder") as upload,
        pytest.raises(HubError, match="no Hugging Face token") as info,
    ):
        push(run_dir, "me/knowgpt")
    assert "\n" not in str(info.value) and "HF_TOKEN" in str(info.value)
    create_repo.assert_not_called()
    upload.assert_not_called()


def test_push_offline_is_one_clear_line(run_dir, monkeypatch):
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_OFFLINE", True
    )  # the real client refuses
    with pytest.raises(HubError) as info:
        push(run_dir, "me/knowgpt", token=FAKE_TOKEN)
    message = str(info.value)
    assert message.startswith("could not push to me/knowgpt: offline mode is on")
    assert "\n" not in message and FAKE_TOKEN not in message


def _http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    response = httpx2.Response(status, request=request)
    return HfHubHTTPError(
        f"{status} Client Error: for url {request.url}\n(Request ID: x)", response=response
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            httpx2.ConnectError("[Errno 111] Connection refused"),
            "cannot reach the Hugging Face Hub",
        ),
        (_http_error(401), r"rejected the token \(401\)"),
        (_http_error(500), "the Hub answered HTTP 500"),
    ],
)
def test_push_network_failures_become_hub_errors(run_dir, error, expected):
    with (
        mock.patch.object(
            HfApi, "create_repo", return_value=RepoUrl("https://huggingface.co/me/knowgpt")
        ),
        mock.patch.object(HfApi, "upload_folder", side_effect=error),
        pytest.raises(HubError, match=expected) as info,
    ):
        push(run_dir, "me/knowgpt", token=FAKE_TOKEN)
    assert "\n" not in str(info.value) and FAKE_TOKEN not in str(info.value)


# ---------------------------------------------------------------------------- clean environment

CLEAN_LOADER = textwrap.dedent(
    """
    import contextlib, importlib.abc, io, json, sys

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] == "hf_knowgpt":
                raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)

    sys.meta_path.insert(0, BlockPackage())
    try:
        import hf_knowgpt  # noqa: F401
        raise SystemExit("hf_knowgpt is importable: the test would prove nothing")
    except ModuleNotFoundError:
        pass

    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    results = []
    for case in json.loads(sys.argv[1]):
        for source in (case["folder"], case["repo_id"]):
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=True)
            model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=True)
            base = AutoModel.from_pretrained(source, trust_remote_code=True)
            ids = torch.tensor([tokenizer(case["question"])["input_ids"]])
            with torch.no_grad():
                same = torch.allclose(base(ids).last_hidden_state, model.transformer(ids).last_hidden_state)
            answers = {}
            for kind in ("usage", "pipeline"):
                scope = {}
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(case[kind].replace("@SOURCE@", source), scope)
                answers[kind] = scope["answer"]
            results.append({
                "source": source,
                "classes": [type(x).__module__.split(".")[0] + "." + type(x).__name__
                            for x in (tokenizer, model, base)],
                "base_matches": same,
                **answers,
            })
    print(json.dumps(results))
    """
)


@pytest.mark.slow
def test_exported_folders_load_without_the_package(tmp_path):
    hf_home = tmp_path / "hf_home"
    cases, expected = [], {}
    for variant in VARIANTS:
        run = make_run(tmp_path, variant)
        folder = export(run, tmp_path / f"knowgpt-{variant}")
        repo_id = "me/knowgpt" if variant == "vanilla" else f"me/knowgpt-{variant}"
        repo_cache = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
        commit = f"{VARIANTS.index(variant) + 1:040x}"
        (repo_cache / "refs").mkdir(parents=True)
        (repo_cache / "refs" / "main").write_text(commit)
        shutil.copytree(folder, repo_cache / "snapshots" / commit)

        model = KnowGPTForCausalLM.from_pretrained(folder)
        tokenizer = KnowGPTTokenizer.from_pretrained(folder)
        (prediction,) = predict(model, tokenizer, [QUESTION])
        expected[str(folder)] = expected[repo_id] = prediction.answer
        cases.append(
            {
                "folder": str(folder),
                "repo_id": repo_id,
                "question": QUESTION,
                "usage": usage_snippet("@SOURCE@", QUESTION),
                "pipeline": pipeline_snippet("@SOURCE@", QUESTION),
            }
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1"
    )
    proc = subprocess.run(
        [sys.executable, "-c", CLEAN_LOADER, json.dumps(cases)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 2 * len(VARIANTS)
    for r in results:
        assert r["classes"] == [
            "transformers_modules.KnowGPTTokenizer",
            "transformers_modules.KnowGPTForCausalLM",
            "transformers_modules.KnowGPTModel",
        ], r
        assert r["base_matches"], r
        assert r["usage"] == r["pipeline"] == expected[r["source"]], r
