"""Recipes: the fast path computes the course's loss, and no recipe trains on a dev or test question."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hf_knowgpt import MASK_CHAR, KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.data.collators import PackedCollator, PaddedCollator, TrimmedCollator
from hf_knowgpt.data.formats import asked_name
from hf_knowgpt.data.pipelines import train_pairs
from hf_knowgpt.data.readers import read_qa
from hf_knowgpt.model import modeling_knowgpt
from hf_knowgpt.training.args import parse_args
from hf_knowgpt.training.recipes import RECIPES
from hf_knowgpt.training.trainer import build_dataset, resolve_data_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_throughput import example_batches, matrix_product_bound, time_steps  # noqa: E402
from reproduce_cs224n import _budget, _write  # noqa: E402


@pytest.fixture(scope="module")
def tok(cs224n_dir):
    return KnowGPTTokenizer.from_corpus(cs224n_dir / "wiki.txt")


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer", "perceiver"])
def test_fast_path_loss_equals_course_style_loss(cs224n_dir, tok, attention_type):
    torch.manual_seed(0)
    config = KnowGPTConfig(
        vocab_size=len(tok), n_layer=3, n_head=4, n_embd=64, attention_type=attention_type
    )
    model = KnowGPTForCausalLM(config).eval()  # dropout off: the two paths must agree exactly
    with torch.no_grad():
        model.transformer.pos_emb.normal_(0, 0.1)
    (rows,) = example_batches(cs224n_dir / "wiki.txt", tok, 1, 32, 128, seed=0)
    padded = PaddedCollator()(rows)
    fast = TrimmedCollator()(rows) if attention_type == "perceiver" else PackedCollator(128)(rows)
    model.config._attn_implementation = "eager"  # the course's explicit masked softmax
    course_loss = model(**padded, num_items_in_batch=1).loss
    model.config._attn_implementation = "sdpa"
    fast_loss = model(**fast, num_items_in_batch=1).loss
    if attention_type != "perceiver":
        assert fast["input_ids"].numel() < 0.6 * padded["input_ids"].numel()  # really pad-free
    torch.testing.assert_close(
        fast_loss, course_loss, rtol=1e-5, atol=1e-3
    )  # summed over ~2,000 targets


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_fast_path_with_attention_dropout_is_the_course_mathematics(
    cs224n_dir, tok, attention_type, monkeypatch
):
    """With attention dropout on, the CPU fast path attends within each packed example alone, in halves
    (the first half of the queries never sees the later keys), and draws its dropout masks its own way.
    With dropout made the identity, its loss and gradients are the course's."""
    torch.manual_seed(0)
    config = KnowGPTConfig(
        vocab_size=len(tok), n_layer=2, n_head=4, n_embd=64, attention_type=attention_type
    )
    config.embd_pdrop = config.resid_pdrop = 0.0
    model = KnowGPTForCausalLM(config).train()
    scored = []

    def identity_dropout(x, p, training, fast):
        if p > 0:  # the attention probabilities (the residual and embedding dropouts are at 0)
            scored.append((tuple(x.shape[-2:]), x.numel()))
        return x

    monkeypatch.setattr(modeling_knowgpt, "dropout", identity_dropout)
    (rows,) = example_batches(cs224n_dir / "wiki.txt", tok, 1, 32, 128, seed=0)

    def loss_and_grads(collate, implementation):
        model.zero_grad()
        model.config._attn_implementation = implementation
        loss = model(**collate(rows), num_items_in_batch=1).loss
        loss.backward()
        return loss.detach(), [q.grad.clone() for q in model.parameters()]

    course = loss_and_grads(PaddedCollator(), "eager")
    assert {shape for shape, _ in scored} == {(128, 128)}
    course_scores = sum(n for _, n in scored)
    scored.clear()
    fast = loss_and_grads(PackedCollator(128), "sdpa")
    assert all(s <= 64 and t <= 128 and t % 8 == 0 for (s, t), _ in scored)  # buckets, halves
    assert sum(n for _, n in scored) < course_scores / 3  # each example alone
    torch.testing.assert_close(fast[0], course[0], rtol=1e-5, atol=1e-3)
    for got, want in zip(fast[1], course[1], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def _held_out_names(cs224n_dir) -> set[str]:
    """The dev and test people who are not also (namesakes) train people."""
    names = {
        f: {asked_name(q) for q, _ in read_qa(cs224n_dir / f)}
        for f in ("birth_places_train.tsv", "birth_dev.tsv", "birth_test_inputs.tsv")
    }
    assert None not in set().union(*names.values())
    return (names["birth_dev.tsv"] | names["birth_test_inputs.tsv"]) - names[
        "birth_places_train.tsv"
    ]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_data_holds_no_dev_or_test_question(cs224n_dir, tok, recipe):
    _, data_args, _ = parse_args("pretrain", ["--data_dir", str(cs224n_dir), "--recipe", recipe])
    resolve_data_files(data_args)
    dataset, _ = build_dataset("pretrain", data_args, tok, 128, seed=0)
    texts = dataset.with_format(None)["text"]
    train_file = cs224n_dir / "birth_places_train.tsv"
    phrased = train_pairs(train_file, tok, 128, data_args.question_forms)
    train_rows = {q + MASK_CHAR + a + MASK_CHAR for q, a in phrased}
    formatted = {t for t in texts if MASK_CHAR in t}
    assert formatted <= train_rows  # QA lines in pretraining are train pairs only
    assert bool(formatted) == data_args.mix_qa
    assert not {asked_name(t.split(MASK_CHAR)[0]) for t in formatted} & _held_out_names(cs224n_dir)
    as_written = {q + MASK_CHAR + a + MASK_CHAR for q, a in read_qa(train_file)}
    # The course data has namesakes (e.g. a dev "George Stone", born in London, and a train one, born in
    # Fulham), so the held-out unit is the (question, answer) pair, and no corpus line holds a question.
    dev_pairs = {q + MASK_CHAR + a + MASK_CHAR for q, a in read_qa(cs224n_dir / "birth_dev.tsv")}
    assert not (dev_pairs - as_written) & set(texts)
    held_out = [
        q for f in ("birth_dev.tsv", "birth_test_inputs.tsv") for q, _ in read_qa(cs224n_dir / f)
    ]
    corpus = "\n".join(t for t in texts if MASK_CHAR not in t)
    assert not [q for q in held_out if q in corpus]


def test_reproduce_table_is_rewritten_after_every_row(tmp_path):
    """A run stopped early keeps the rows it finished, and says which are missing."""
    args = SimpleNamespace(
        output=str(tmp_path / "table"), recipe="cs224n", pretrain_minutes=0, finetune_minutes=6, jobs=1,
        data_dir="DATA",
    )  # fmt: skip
    row = {"row": "London baseline", "accuracy": 0.05, "correct": 25, "total": 500,
           "published": "5.0 %", "budget": "no training"}  # fmt: skip
    prov = {"command": "c", "git_commit": "g", "date": "d", "machine": "m", "wall_seconds": 1.0}
    _write(args, Path("DATA/birth_dev.tsv"), [row], ["vanilla, pretrained + finetuned"], prov)
    record = json.loads((tmp_path / "table.json").read_text())
    assert record["rows"] == [row] and record["rows_still_to_run"] == [
        "vanilla, pretrained + finetuned"
    ]
    assert (record["pretrain_minutes"], record["finetune_minutes"]) == (None, 6)
    md = (tmp_path / "table.md").read_text()
    assert "| London baseline | 5.0 % (25/500) |" in md
    assert "still to run: vanilla, pretrained + finetuned" in md
    assert "pretraining not cut" in md and "finetuning cut at 6 min" in md
    _write(args, Path("DATA/birth_dev.tsv"), [row], [], prov)
    assert "still to run" not in (tmp_path / "table.md").read_text()
    assert _budget(0) == {} and _budget(7.5) == {"max_minutes": 7.5}


@pytest.mark.slow
def test_reproduce_runs_pretrainings_side_by_side(tmp_path, hf_env):
    """`--jobs 2`: both pretrainings run as their own processes, then the table is built from them."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "table"
    cmd = [sys.executable, str(root / "scripts" / "reproduce_cs224n.py"), "--data_dir",
           str(root / "hf_knowgpt" / "data" / "corpus"), "--recipe", "cs224n", "--pretrain_minutes", "0",
           "--finetune_minutes", "0", "--variants", "vanilla,perceiver", "--jobs", "2",
           "--work_dir", str(tmp_path / "work"), "--output", str(out), "--",
           "--max_steps", "2", "--n_embd", "32", "--n_head", "2", "--n_layer", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=hf_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["rows_still_to_run"] == [] and record["pretrain_jobs"] == 2
    assert [r["row"] for r in record["rows"]][-2:] == [
        "vanilla, pretrained + finetuned",
        "perceiver, pretrained + finetuned",
    ]
    for variant in ("vanilla", "perceiver"):
        info = json.loads((tmp_path / "work" / f"{variant}_pretrain" / "run_info.json").read_text())
        assert (info["attention_type"], info["steps"]) == (variant, 2)
        assert (tmp_path / "work" / f"{variant}_pretrain.log").is_file()
    assert "ran 2 at a time" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_finetuning_data_holds_no_dev_or_test_question(cs224n_dir, tok, recipe):
    for pretrained in ([], ["--pretrained_model", "any"]):  # both finetuning presets
        _, data_args, _ = parse_args(
            "finetune", ["--data_dir", str(cs224n_dir), "--recipe", recipe, *pretrained]
        )
        resolve_data_files(data_args)
        dataset, _ = build_dataset("finetune", data_args, tok, 128, seed=0)
        rows = set(zip(dataset["question"], dataset["answer"], strict=True))
        train_file = cs224n_dir / "birth_places_train.tsv"
        assert rows == set(train_pairs(train_file, tok, 128, data_args.question_forms))
        assert not {asked_name(q) for q, _ in rows} & _held_out_names(cs224n_dir)
        held_out = {
            q
            for f in ("birth_dev.tsv", "birth_test_inputs.tsv")
            for q, _ in read_qa(cs224n_dir / f)
        }
        train_questions = {q for q, _ in read_qa(cs224n_dir / "birth_places_train.tsv")}
        assert not {q for q, _ in rows} & (held_out - train_questions)


def test_the_matrix_product_bound_is_above_the_step_it_bounds(cs224n_dir, tok):
    """bench_throughput's bound: the tokens/s of one step's matrix products alone, never below the rate
    of the whole step, at a believable GFLOP/s."""
    batches = example_batches(cs224n_dir / "wiki.txt", tok, 3, 16, 128, seed=0)
    torch.manual_seed(0)
    model = KnowGPTForCausalLM(KnowGPTConfig(vocab_size=len(tok), n_layer=2, n_head=2, n_embd=64))
    collate = PackedCollator(model.config.block_size)
    step = time_steps(model, batches, collate, eager=False)
    bound = matrix_product_bound(model, batches, collate, eager=False)
    assert bound["seconds"] > 0 and 0.1 < bound["gflops_per_s"] < 10_000
    assert bound["tokens_per_s"] > step["tokens_per_s"]
