"""The trainer: the course's LR schedule and recipes, real 2-process runs, exact resume, refusals.

Training runs are tiny (2 layers, n_embd 32, block_size 64, a 60-line corpus) and isolated: each
gets its own HF_HOME (accelerate reads `$HF_HOME/accelerate/default_config.yaml`) and the Hub is
offline. Runs that must be killed or need several processes are subprocesses.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.cli import main
from hf_knowgpt.training import optimizers
from hf_knowgpt.training.args import parse_args
from hf_knowgpt.training.checkpoints import latest_checkpoint
from hf_knowgpt.training.optimizers import Muon, MuonAdamW
from hf_knowgpt.training.recipes import RECIPES
from hf_knowgpt.training.schedules import LRSchedule, cs224n_lr_mult
from hf_knowgpt.training.trainer import build_loader, build_optimizer

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The course's schedule constants: warmup 512*20 tokens, final_tokens = 200 * corpus lines * block_size.
WARMUP = 512 * 20
FINAL = 200 * 2937 * 128

TINY = ["--n_layer", "2", "--n_embd", "32", "--n_head", "2", "--block_size", "64"]
TINY += ["--batch_size", "8", "--report_to", "none"]


def course_lr_mult(tokens: float) -> float:
    """The course's minGPT trainer, written out: linear warmup, then an unclipped cosine floored at 0.1."""
    if tokens < WARMUP:
        return tokens / WARMUP
    progress = (tokens - WARMUP) / (FINAL - WARMUP)
    return max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))


def _optimizer(lr: float = 123.0) -> torch.optim.Optimizer:
    """Two param groups, like the trainer's (decay / no decay)."""
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    return torch.optim.AdamW(
        [{"params": [a], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=lr
    )


def _lrs(opt) -> set[float]:
    return {group["lr"] for group in opt.param_groups}


# ---------------------------------------------------------------------------- 1. LR schedule


@pytest.mark.parametrize(
    "tokens",
    [0, 1, 512, 5120, WARMUP - 1, WARMUP, WARMUP + 1, 16384, 100 * 16384],
)
def test_cs224n_mult_warmup_and_early_cosine(tokens):
    assert cs224n_lr_mult(tokens, WARMUP, FINAL) == pytest.approx(course_lr_mult(tokens), abs=1e-12)


def test_cs224n_mult_follows_the_course_formula_past_final_tokens():
    cycle = FINAL - WARMUP  # tokens from progress 0 to progress 1
    points = {p: WARMUP + round(p * cycle) for p in (0.25, 0.5, 0.9, 1.0, 1.1, 1.3, 1.5, 1.8, 2.0)}
    for p, tokens in points.items():
        got = cs224n_lr_mult(tokens, WARMUP, FINAL)
        assert got == pytest.approx(course_lr_mult(tokens), abs=1e-12), p
    assert cs224n_lr_mult(FINAL, WARMUP, FINAL) == pytest.approx(0.1)
    # The course does not clip progress: one cycle past final_tokens the LR is back at the base.
    assert cs224n_lr_mult(FINAL + cycle, WARMUP, FINAL) == pytest.approx(1.0)
    # Half a cycle past final_tokens it is at 0.5 and on its way up (floored at 0.1 before that).
    half = cs224n_lr_mult(FINAL + cycle // 2, WARMUP, FINAL)
    assert half == pytest.approx(0.5, abs=1e-6)
    past = [cs224n_lr_mult(FINAL + round(f * cycle), WARMUP, FINAL) for f in (0.2, 0.3, 0.5, 0.8)]
    assert all(m >= 0.1 for m in past)
    assert past == sorted(past) and past[1] < past[2] < past[3] < 1.0


def test_cs224n_schedule_runs_step_one_at_base_lr_then_follows_tokens():
    opt = _optimizer()
    schedule = LRSchedule(opt, "cs224n", 6e-3, warmup_tokens=WARMUP, final_tokens=FINAL)
    # The course creates the optimizer at the base LR and changes it only after a step.
    assert schedule.apply() == pytest.approx(6e-3)
    assert _lrs(opt) == {schedule.apply()}
    per_step = 8 * 64  # batch 8 rows × block_size 64 targets per row, PAD targets included
    tokens = 0
    for _ in range(40):  # through the warmup (20 steps) and into the cosine
        schedule.advance(per_step)
        tokens += per_step
        lr = schedule.apply()
        assert lr == pytest.approx(6e-3 * course_lr_mult(tokens), rel=1e-12)
        assert _lrs(opt) == {lr}
    assert schedule.tokens == tokens
    # Step 2 runs at 512/10240 of the base: the warmup starts after the first step, not before it.
    fresh = LRSchedule(_optimizer(), "cs224n", 6e-3, warmup_tokens=WARMUP, final_tokens=FINAL)
    fresh.advance(per_step)
    assert fresh.apply() == pytest.approx(6e-3 * 512 / WARMUP)


def test_schedule_state_dict_round_trip():
    kwargs = dict(warmup_tokens=WARMUP, final_tokens=FINAL, warmup_steps=3, total_steps=50)
    for name in ("cs224n", "cosine"):
        a = LRSchedule(_optimizer(), name, 1e-3, **kwargs)
        for _ in range(7):
            a.apply()
            a.advance(16384)
        state = json.loads(json.dumps(a.state_dict()))  # as the checkpoint stores it
        b = LRSchedule(_optimizer(), name, 1e-3, **kwargs)
        assert b.apply() != a.apply()
        b.load_state_dict(state)
        assert b.state_dict() == a.state_dict()
        for _ in range(5):
            assert b.apply() == a.apply()
            a.advance(16384)
            b.advance(16384)


def test_cosine_schedule_warms_up_then_decays_to_ten_percent():
    warmup, total = 10, 110
    schedule = LRSchedule(_optimizer(), "cosine", 1e-3, warmup_steps=warmup, total_steps=total)
    mults = []
    for _ in range(total + 30):
        mults.append(schedule.apply() / 1e-3)
        schedule.advance(1)
    assert 0 < mults[0] < 0.5
    assert all(
        x < y for x, y in zip(mults[:warmup], mults[1:warmup], strict=False)
    )  # linear warmup
    assert max(mults) == pytest.approx(1.0)
    assert mults[warmup] == pytest.approx(1.0)
    decay = mults[warmup : total + 1]
    assert all(x >= y for x, y in zip(decay, decay[1:], strict=False))
    assert mults[(warmup + total) // 2] == pytest.approx(0.55)  # cosine midpoint: 0.1 + 0.9/2
    assert mults[total] == pytest.approx(0.1)
    assert all(m == pytest.approx(0.1) for m in mults[total:])  # flat at 10 % afterwards


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="lr_schedule"):
        LRSchedule(_optimizer(), "linear", 1e-3)


# ---------------------------------------------------------------------------- 2. recipes


def _course(t) -> tuple:
    return (t.num_epochs, t.batch_size, t.learning_rate, t.lr_schedule, t.packing)


def test_cs224n_recipe_pretrain():
    model, data, train = parse_args("pretrain", ["--output_dir", "x"])
    assert train.recipe == "cs224n"
    assert _course(train) == (650, 128, 6e-3, "cs224n", False)
    assert (train.adam_beta1, train.adam_beta2, train.weight_decay) == (0.9, 0.95, 0.1)
    assert (train.max_grad_norm, train.warmup_tokens) == (1.0, 512 * 20)
    assert (model.n_layer, model.n_head, model.n_embd, model.block_size) == (4, 8, 256, 128)
    assert (data.objective, data.window, data.mix_qa) == ("span", "prefix", False)
    explicit = parse_args("pretrain", ["--recipe", "cs224n"])[2]
    assert _course(explicit) == _course(train)


def test_cs224n_recipe_finetune_after_pretraining_and_from_scratch():
    _, _, after = parse_args("finetune", ["--pretrained_model", "runs/pretrain"])
    assert _course(after) == (10, 256, 6e-4, "cs224n", False)
    _, _, scratch = parse_args("finetune", [])
    assert _course(scratch) == (75, 256, 6e-4, "cs224n", False)


def test_course_recipes_use_the_course_trainers_groups_and_order():
    for recipe in ("cs224n", "cs224n_fast"):
        for job, flags in (
            ("pretrain", []),
            ("finetune", []),
            ("finetune", ["--pretrained_model", "p"]),
        ):
            t = parse_args(job, ["--recipe", recipe, *flags])[2]
            assert (t.decay, t.shuffle) == ("course", False), (recipe, job, flags)
    t = parse_args("pretrain", ["--recipe", "mixed"])[2]
    assert (t.decay, t.shuffle) == ("linear", True)
    t = parse_args("pretrain", ["--decay", "linear", "--shuffle", "true"])[2]  # flags win
    assert (t.decay, t.shuffle) == ("linear", True)


def test_weight_decay_groups():
    model = KnowGPTForCausalLM(KnowGPTConfig(vocab_size=20, n_layer=2, n_head=2, n_embd=16))
    names = {id(p): n for n, p in model.named_parameters()}

    def decayed(decay: str) -> set[str]:
        args = parse_args("pretrain", ["--decay", decay])[2]
        groups = build_optimizer(model, args).param_groups
        assert {g["weight_decay"] for g in groups} == {0.1, 0.0}
        return {names[id(p)] for g in groups if g["weight_decay"] for p in g["params"]}

    # The course: everything but biases (its "LayerNorm.weight" pattern matches no ln1/ln2/ln_f).
    course = decayed("course")
    assert course == {n for n in names.values() if not n.endswith(".bias")}
    assert {
        "transformer.tok_emb.weight",
        "transformer.pos_emb",
        "transformer.ln_f.weight",
    } <= course
    linear = decayed("linear")
    assert "transformer.blocks.0.attn.qkv.weight" in linear and "lm_head.weight" in linear
    assert not {"transformer.tok_emb.weight", "transformer.pos_emb"} & linear
    assert not any(".ln" in n for n in linear)
    with pytest.raises(ValueError, match="decay"):
        build_optimizer(
            model, SimpleNamespace(**{**vars(parse_args("pretrain", [])[2]), "decay": "all"})
        )


def test_muon_takes_the_hidden_matrices_adamw_the_rest_and_both_states_round_trip():
    def tiny() -> KnowGPTForCausalLM:
        torch.manual_seed(0)
        return KnowGPTForCausalLM(
            KnowGPTConfig(
                vocab_size=20,
                n_layer=2,
                n_head=2,
                n_embd=16,
                embd_pdrop=0.0,
                resid_pdrop=0.0,
                attn_pdrop=0.0,
            )
        )

    args = parse_args(
        "pretrain", ["--optimizer", "muon", "--learning_rate", "0.01", "--decay", "linear"]
    )[2]
    model = tiny()
    opt = build_optimizer(model, args)
    assert isinstance(opt, MuonAdamW) and isinstance(opt.muon, torch.optim.Muon)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[id(p)] for g in opt.muon.param_groups for p in g["params"]}
    adamw = {names[id(p)] for g in opt.adamw.param_groups for p in g["params"]}
    assert muon == {n for n in names.values() if n.startswith("transformer.blocks.")
                    and n.endswith(".weight") and ".ln" not in n}  # fmt: skip
    assert adamw == set(names.values()) - muon
    assert {"lm_head.weight", "transformer.tok_emb.weight", "transformer.pos_emb"} <= adamw
    decayed = {names[id(p)] for g in opt.param_groups if g["weight_decay"] for p in g["params"]}
    assert decayed == muon | {"lm_head.weight"}  # --decay linear, as with AdamW alone

    batch = torch.randint(0, 20, (4, 12))

    def step(model, opt) -> float:
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    losses = [step(model, opt) for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0], losses
    for group in opt.param_groups:  # the schedule's way of setting the rate reaches both
        group["lr"] = 0.002
    assert {g["lr"] for g in opt.muon.param_groups + opt.adamw.param_groups} == {0.002}

    saved = copy.deepcopy(opt.state_dict())  # a checkpoint's copy, not the live state tensors
    assert set(saved) == {"muon", "adamw"} and saved["muon"]["state"]
    twin = tiny()
    twin.load_state_dict(model.state_dict())
    twin_opt = build_optimizer(twin, args)
    twin_opt.load_state_dict(saved)
    step(model, opt), step(twin, twin_opt)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="not a MuonAdamW state"):
        twin_opt.load_state_dict(torch.optim.AdamW(twin.parameters()).state_dict())
    with pytest.raises(ValueError, match="--lora_rank trains its adapters with AdamW"):
        parse_args("finetune", ["--optimizer", "muon", "--lora_rank", "4"])


def test_muon_is_torchs_step_and_runs_its_iterations_in_fp32_where_bf16_is_emulated(monkeypatch):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(48, 16)), torch.nn.Parameter(torch.randn(16, 40))]
    ours_bf16, ours_fp32 = copy.deepcopy(params), copy.deepcopy(params)
    kw = {"lr": 0.02, "weight_decay": 0.1, "adjust_lr_fn": "match_rms_adamw"}
    torchs = torch.optim.Muon(params, **kw)
    bf16 = Muon(ours_bf16, **kw)
    fp32 = Muon(ours_fp32, ns_dtype=torch.float32, **kw)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in params]
        for group in (params, ours_bf16, ours_fp32):
            for p, g in zip(group, grads, strict=True):
                p.grad = g.clone()
        torchs.step()
        bf16.step_in(torch.bfloat16)  # the loop `step` runs in fp32, here in torch's dtype
        fp32.step()
    assert all(torch.equal(a, b) for a, b in zip(params, ours_bf16, strict=True))
    # fp32 iterations: the same update up to bf16's rounding, which differs
    for a, b in zip(params, ours_fp32, strict=True):
        assert not torch.equal(a, b) and torch.allclose(a, b, rtol=0, atol=2e-3)
    assert fp32.state_dict()["state"].keys() == torchs.state_dict()["state"].keys()
    fp32.load_state_dict(torchs.state_dict())  # either resumes the other's checkpoint

    monkeypatch.setattr(optimizers, "bf16_is_native", lambda device: False)
    assert optimizers.newton_schulz_dtype("cpu") == torch.float32
    monkeypatch.setattr(optimizers, "bf16_is_native", lambda device: True)
    assert optimizers.newton_schulz_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="match_rms_adamw"):
        Muon(params, lr=0.02)


def test_mixed_precision_auto_is_bf16_only_where_the_device_multiplies_it(monkeypatch):
    from hf_knowgpt.training import trainer

    monkeypatch.setattr(trainer, "bf16_is_native", lambda device: False)
    assert trainer._mixed_precision("auto") == "no"
    monkeypatch.setattr(trainer, "bf16_is_native", lambda device: True)
    assert trainer._mixed_precision("auto") == "bf16"
    assert [trainer._mixed_precision(c) for c in ("no", "bf16", None)] == ["no", "bf16", None]
    # no recipe asks for bf16 outright: on a CPU that emulates it, that is up to 20x slower
    stages = [stage for recipe in RECIPES.values() for stage in recipe.values()]
    assert {s.get("mixed_precision") for s in stages} <= {None, "no", "auto"}


@pytest.mark.parametrize("shuffle", [False, True])
def test_loader_order(shuffle):
    args = parse_args("pretrain", ["--shuffle", str(shuffle).lower()])[2]
    loader = build_loader(list(range(10)), args, batch_size=4, collate_fn=list)
    epochs = [sum(loader, []) for _ in range(2)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    if shuffle:
        assert epochs[0] != list(range(10)) and epochs[0] != epochs[1]
    else:  # the course: the file's order, every epoch
        assert epochs == [list(range(10))] * 2


def test_explicit_flags_override_the_recipe():
    _, _, t = parse_args(
        "pretrain", ["--learning_rate", "1e-3", "--batch_size=64", "--lr_schedule", "cosine"]
    )
    assert (t.learning_rate, t.batch_size, t.lr_schedule) == (1e-3, 64, "cosine")
    assert t.num_epochs == 650  # not given: still the recipe's
    _, data, t = parse_args("pretrain", ["--recipe", "mixed", "--packing", "false"])
    assert t.packing is False and data.mix_qa is True  # packing overridden, the rest from "mixed"


def test_json_args_file(tmp_path):
    args = {"pretrained_model": "runs/pretrain", "batch_size": 32, "output_dir": str(tmp_path)}
    path = tmp_path / "finetune.json"
    path.write_text(json.dumps(args))
    model, _, train = parse_args("finetune", [str(path)])
    assert model.pretrained_model == "runs/pretrain"
    assert (train.num_epochs, train.batch_size, train.learning_rate) == (10, 32, 6e-4)
    assert train.output_dir == str(tmp_path)


def test_unknown_recipe_raises():
    assert "nope" not in RECIPES
    with pytest.raises(ValueError, match="nope"):
        parse_args("pretrain", ["--recipe", "nope"])


# ---------------------------------------------------------------------------- helpers for runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _knowgpt(*args: str) -> list[str]:
    return [sys.executable, "-m", "hf_knowgpt.cli", *args]


def _tail(path_or_text, n: int = 4000) -> str:
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    return text[-n:]


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder` with its mtime and content hash."""
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _weight_report(a: dict, b: dict) -> str:
    diffs = {k: (a[k] - b[k]).abs().max().item() for k in a if not torch.equal(a[k], b[k])}
    worst = sorted(diffs.items(), key=lambda kv: -kv[1])[:5]
    return f"{len(diffs)}/{len(a)} tensors differ; largest |Δ|: {worst}"


# ---------------------------------------------------------------------------- 3. two processes


@pytest.mark.slow
def test_two_process_cpu_run(tmp_path, hf_env, tiny_data_dir):
    run = tmp_path / "run"
    env = {**hf_env, "ACCELERATE_USE_CPU": "1"}
    cmd = [
        str(BIN / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(ROOT / "scripts" / "pretrain.py"),
        "--output_dir",
        str(run),
        *TINY,
        "--threads",
        "1",
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--data_dir",
        str(tiny_data_dir),
    ]
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as e:  # a hang: show where both ranks were
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        files = sorted(str(p.relative_to(run)) for p in run.rglob("*")) if run.exists() else []
        pytest.fail(f"the 2-process run hung; files: {files}\nstderr tail:\n{_tail(err)}")
    assert proc.returncode == 0, _tail(proc.stderr)

    info = json.loads((run / "run_info.json").read_text())
    assert info["num_processes"] == 2, "accelerate started one process, not two"
    assert info["steps"] == 4
    # The course's token count: every target position (PAD included) of the global batch.
    assert info["tokens"] == 4 * 8 * 64
    ckpt = latest_checkpoint(run)
    assert ckpt is not None and ckpt.name == "checkpoint_0000004"
    # accelerate writes one RNG state per rank: both ranks took part in the checkpoint.
    assert (ckpt / "random_states_0.pkl").is_file()
    assert (ckpt / "random_states_1.pkl").is_file()
    assert not list((run / "checkpoints").glob(".tmp_*"))

    model = AutoModelForCausalLM.from_pretrained(run / "model").eval()
    assert isinstance(model, KnowGPTForCausalLM)
    tokenizer = KnowGPTTokenizer.from_pretrained(run / "model")
    ids = torch.tensor([tokenizer.encode_chars("Where was Ugo Varga born?")])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()
    # The final model is the last step's weights.
    final, last = (
        load_file(run / "model" / "model.safetensors"),
        load_file(ckpt / "model.safetensors"),
    )
    assert final.keys() == last.keys()
    assert all(torch.equal(final[k], last[k]) for k in final), _weight_report(final, last)


# ---------------------------------------------------------------------------- 4. exact resume

MAX_STEPS = 40  # 60 documents / batch 8 = 8 batches an epoch: the run crosses 4 epoch boundaries
RESUME_ARGS = [*TINY, "--threads", "1", "--max_steps", str(MAX_STEPS), "--save_steps", "2"]


@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory, make_hf_env, tiny_data_dir):
    """An uninterrupted run and a run SIGKILLed after its first checkpoint, then resumed."""
    root = tmp_path_factory.mktemp("resume")
    env = make_hf_env(root / "hf_home")
    full, killed = root / "full", root / "killed"
    common = [*RESUME_ARGS, "--data_dir", str(tiny_data_dir), "--seed", "0"]  # dropout: default 0.1

    logs = {name: open(root / f"{name}.log", "w") for name in ("full", "killed", "resumed")}
    uninterrupted = victim = None
    try:
        # Both start together (--threads 1 each) to share the interpreter start-up time.
        uninterrupted = subprocess.Popen(
            _knowgpt("pretrain", "--output_dir", str(full), *common),
            env=env,
            cwd=root,
            stdout=logs["full"],
            stderr=subprocess.STDOUT,
        )
        victim = subprocess.Popen(
            _knowgpt("pretrain", "--output_dir", str(killed), *common),
            env=env,
            cwd=root,
            stdout=logs["killed"],
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while victim.poll() is None and time.monotonic() < deadline:
            if latest_checkpoint(killed) is not None:  # complete checkpoints only
                os.kill(victim.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        else:
            victim.kill()
        victim.wait(timeout=60)
        if victim.returncode != -signal.SIGKILL:
            pytest.fail(
                f"the run to interrupt ended by itself (rc {victim.returncode}) before the kill: "
                f"make it longer\n{_tail(root / 'killed.log')}"
            )
        if (killed / "run_info.json").exists() or (killed / "model").exists():
            pytest.fail("the run was killed only after it had finished: make it longer")
        resume_from = latest_checkpoint(killed)
        saved_step = json.loads((resume_from / "trainer_state.json").read_text())["state"]["step"]
        assert 0 < saved_step < MAX_STEPS, saved_step

        resumed = subprocess.run(
            _knowgpt(
                "pretrain",
                "--output_dir",
                str(killed),
                *common,
                "--resume_from_checkpoint",
                "latest",
            ),
            env=env,
            cwd=root,
            stdout=logs["resumed"],
            stderr=subprocess.STDOUT,
            timeout=300,
        )
        assert uninterrupted.wait(timeout=300) == 0, _tail(root / "full.log")
        assert resumed.returncode == 0, _tail(root / "resumed.log")
    finally:
        for f in logs.values():
            f.close()
        for proc in (uninterrupted, victim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    return SimpleNamespace(
        root=root, full=full, resumed=killed, saved_step=saved_step, data_dir=tiny_data_dir
    )


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(resume_runs):
    r = resume_runs
    log = (r.root / "resumed.log").read_text()
    assert "resumed from" in log and f"at step {r.saved_step}" in log, _tail(log)
    full_info = json.loads((r.full / "run_info.json").read_text())
    resumed_info = json.loads((r.resumed / "run_info.json").read_text())
    assert full_info["steps"] == resumed_info["steps"] == MAX_STEPS
    # 40 steps = 5 epochs of 60 documents (7 batches of 8 and one of 4), 64 targets per row.
    assert full_info["tokens"] == resumed_info["tokens"] == 5 * 60 * 64

    a = load_file(r.full / "model" / "model.safetensors")
    b = load_file(r.resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), (
        f"resumed from step {r.saved_step} of {MAX_STEPS}, the weights differ from the "
        f"uninterrupted run's: {_weight_report(a, b)}"
    )


def test_max_minutes_zero_is_no_budget(resume_runs, hf_env, tmp_path, reset_accelerate):
    run = tmp_path / "run"
    args = [
        *TINY,
        "--max_steps",
        "3",
        "--max_minutes",
        "0",
        "--data_dir",
        str(resume_runs.data_dir),
    ]
    assert main(["pretrain", "--output_dir", str(run), *args]) == 0
    assert json.loads((run / "run_info.json").read_text())["steps"] == 3


def test_mid_run_evaluation_records_accuracy_and_both_storage_probes(
    hf_env, tmp_path, reset_accelerate
):
    run = tmp_path / "run"
    data = ROOT / "hf_knowgpt" / "data" / "corpus"
    args = [*TINY, "--max_steps", "2", "--eval_steps", "2", "--data_dir", str(data)]
    assert main(["pretrain", "--output_dir", str(run), *args]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "dev_accuracy" in r]
    assert [r["step"] for r in evals] == [2]
    for r in evals:
        for key in ("dev_accuracy", "dev_storage", "dev_cloze_storage"):
            assert 0 <= r[key] <= 1, (key, r)
        assert r["dev_storage_probed"] > 0 and r["dev_cloze_storage_probed"] > 0


# ---------------------------------------------------------------------------- 5-6. refusals


def test_refuses_to_overwrite_an_existing_run(resume_runs, hf_env, capsys, reset_accelerate):
    run = resume_runs.full
    before = _snapshot(run)
    args = [*TINY, "--max_steps", "2", "--data_dir", str(resume_runs.data_dir)]
    rc = main(["pretrain", "--output_dir", str(run), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1, err
    assert str(run) in err[0] and "--resume_from_checkpoint" in err[0]
    assert _snapshot(run) == before


def test_finetune_refuses_a_pretrained_run_of_another_variant(
    resume_runs, hf_env, tmp_path, capsys, reset_accelerate
):
    out = tmp_path / "finetune"
    rc = main(
        [
            "finetune",
            "--pretrained_model",
            str(resume_runs.full),
            "--attention_type",
            "synthesizer",
            "--output_dir",
            str(out),
            "--data_dir",
            str(resume_runs.data_dir),
            "--report_to",
            "none",
            "--max_steps",
            "1",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1, err
    assert "vanilla" in err[0] and "synthesizer" in err[0]
    assert not (out / "model").exists() and not (out / "checkpoints").exists()
    assert not (out / "run_info.json").exists()


def test_finetuning_keeps_the_pretrained_dropout_unless_asked(tiny_data_dir, tmp_path):
    from hf_knowgpt.training.args import parse_args
    from hf_knowgpt.training.trainer import build_model

    corpus = tiny_data_dir / "wiki.txt"
    tokenizer = KnowGPTTokenizer.from_corpus(corpus)
    config = KnowGPTConfig(vocab_size=len(tokenizer), n_layer=1, n_embd=16, n_head=2, block_size=64)
    config.embd_pdrop = config.resid_pdrop = config.attn_pdrop = 0.25
    KnowGPTForCausalLM(config).save_pretrained(tmp_path / "pre")
    tokenizer.save_pretrained(tmp_path / "pre")

    def dropouts(*flags):
        base = ["--data_dir", str(tiny_data_dir), "--output_dir", str(tmp_path / "out")]
        model_args, _, _ = parse_args("finetune", [*base, *flags])
        model = build_model("finetune", model_args, str(corpus))[1].config
        return model.embd_pdrop, model.resid_pdrop, model.attn_pdrop

    pretrained = ["--pretrained_model", str(tmp_path / "pre")]
    assert dropouts(*pretrained) == (0.25, 0.25, 0.25)  # the model's own
    assert dropouts(*pretrained, "--dropout", "0") == (0.0, 0.0, 0.0)  # was silently ignored before
    assert dropouts() == (0.1, 0.1, 0.1)  # a new model: the course's 0.1
    assert dropouts("--recipe", "demo") == (0.0, 0.0, 0.0)  # a recipe's value counts as asked


def _tiny_pretrained(tiny_data_dir, folder: Path) -> None:
    tokenizer = KnowGPTTokenizer.from_corpus(tiny_data_dir / "wiki.txt")
    config = KnowGPTConfig(vocab_size=len(tokenizer), n_layer=2, n_embd=32, n_head=2, block_size=64)
    torch.manual_seed(0)
    KnowGPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.mark.parametrize(
    "freeze, kept",
    [
        ("embeddings", ("transformer.tok_emb.", "transformer.pos_emb")),
        ("mlp", (".mlp.",)),
        ("lower_half", ("transformer.tok_emb.", "transformer.pos_emb", "transformer.blocks.0.")),
    ],
)
def test_finetuning_with_freeze_trains_every_weight_but_the_frozen_ones(
    freeze, kept, tiny_data_dir, tmp_path, hf_env, reset_accelerate
):
    _tiny_pretrained(tiny_data_dir, tmp_path / "pre")
    flags = ["--pretrained_model", str(tmp_path / "pre"), "--data_dir", str(tiny_data_dir),
             "--max_steps", "2", "--freeze", freeze]  # fmt: skip
    assert main(["finetune", "--output_dir", str(tmp_path / "ft"), *TINY, *flags]) == 0
    before = load_file(tmp_path / "pre" / "model.safetensors")
    after = load_file(tmp_path / "ft" / "model" / "model.safetensors")
    assert before.keys() == after.keys()
    for name in before:
        frozen = name.startswith(kept) or any(k in name for k in kept if k.startswith("."))
        assert torch.equal(before[name], after[name]) == frozen, (freeze, name)


def test_lora_finetuning_trains_adapters_only_and_saves_them_merged(
    tiny_data_dir, tmp_path, hf_env, reset_accelerate
):
    _tiny_pretrained(tiny_data_dir, tmp_path / "pre")
    flags = ["--pretrained_model", str(tmp_path / "pre"), "--data_dir", str(tiny_data_dir),
             "--max_steps", "2", "--learning_rate", "1e-2", "--lora_rank", "4"]  # fmt: skip
    assert main(["finetune", "--output_dir", str(tmp_path / "ft"), *TINY, *flags]) == 0
    before = load_file(tmp_path / "pre" / "model.safetensors")
    after = load_file(tmp_path / "ft" / "model" / "model.safetensors")
    assert before.keys() == after.keys()  # a plain KnowGPT folder: no adapter keys left
    blocks_linear = re.compile(
        r"transformer\.blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(fc|proj))\.weight"
    )
    for name in before:  # the merged adapters change exactly the blocks' Linear weights
        assert torch.equal(before[name], after[name]) != bool(blocks_linear.fullmatch(name)), name
    info = json.loads((tmp_path / "ft" / "run_info.json").read_text())
    adapters = (
        2 * 4 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32))
    )  # r × (in + out) per Linear
    assert info["trainable_parameters"] == adapters
    assert info["parameters"] == sum(t.numel() for t in before.values())
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ft" / "model")
    assert type(reloaded).__name__ == "KnowGPTForCausalLM"


@pytest.mark.parametrize(
    "job, flags, message",
    [
        ("pretrain", ["--lora_rank", "4"], "--pretrained_model"),
        ("finetune", ["--lora_rank", "4"], "--pretrained_model"),  # from scratch: nothing to adapt
        ("finetune", ["--lora_rank", "4", "--freeze", "mlp"], "drop --freeze"),
        ("finetune", ["--lora_alpha", "8"], "--lora_alpha needs --lora_rank"),
        ("finetune", ["--lora_rank", "-1"], "--lora_rank must be >= 0"),
        ("finetune", ["--question_forms", "9"], "--question_forms is 1 to 5"),
        ("pretrain", ["--question_forms", "2"], "pretrain with --mix_qa"),
    ],
)
def test_lora_and_question_forms_refuse_what_they_cannot_do_in_one_line(
    job, flags, message, tiny_data_dir, tmp_path, capsys, hf_env, reset_accelerate
):
    out = tmp_path / "run"
    argv = [
        job,
        "--output_dir",
        str(out),
        "--data_dir",
        str(tiny_data_dir),
        *TINY,
        "--max_steps",
        "1",
    ]
    assert main([*argv, *flags]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (out / "model").exists() and not (out / "checkpoints").exists()


def test_a_muon_checkpoint_resumes_only_with_muon(tiny_data_dir, tmp_path, capsys, hf_env,
                                                   reset_accelerate):  # fmt: skip
    out = str(tmp_path / "pre")
    base = ["pretrain", "--output_dir", out, *TINY, "--data_dir", str(tiny_data_dir),
            "--save_steps", "1"]  # fmt: skip
    assert main([*base, "--max_steps", "1", "--optimizer", "muon"]) == 0
    capsys.readouterr()
    assert main([*base, "--max_steps", "2", "--resume_from_checkpoint", "latest"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs in optimizer" in err[0], err
    resumed = [
        *base,
        "--max_steps",
        "2",
        "--optimizer",
        "muon",
        "--resume_from_checkpoint",
        "latest",
    ]
    assert main(resumed) == 0
    assert json.loads((tmp_path / "pre" / "run_info.json").read_text())["steps"] == 2


def test_a_lora_checkpoint_resumes_only_as_lora(
    tiny_data_dir, tmp_path, capsys, hf_env, reset_accelerate
):
    _tiny_pretrained(tiny_data_dir, tmp_path / "pre")
    out = str(tmp_path / "ft")
    base = ["finetune", "--output_dir", out, *TINY, "--pretrained_model", str(tmp_path / "pre"),
            "--data_dir", str(tiny_data_dir), "--save_steps", "1"]  # fmt: skip
    assert main([*base, "--max_steps", "1", "--lora_rank", "4"]) == 0
    capsys.readouterr()
    assert main([*base, "--max_steps", "2", "--resume_from_checkpoint", "latest"]) != 0
    assert "lora" in capsys.readouterr().err
    assert (
        main([*base, "--max_steps", "2", "--lora_rank", "4", "--resume_from_checkpoint", "latest"])
        == 0
    )
    assert json.loads((tmp_path / "ft" / "run_info.json").read_text())["steps"] == 2
