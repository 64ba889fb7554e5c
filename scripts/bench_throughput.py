"""Training throughput: the course-style step against the fast path, same model, same examples, one run.

(a) course-style: span-corruption rows padded to 128, batch 128, explicit masked-softmax attention, dropout 0.1;
(b) fast path: the same examples packed pad-free (position ids restart per example, attention never crosses
    examples; the Perceiver, which cannot pack, trims each batch to its longest row), the model's default
    attention kernel, the same dropout. Both compute the same loss on the same examples (tests/test_throughput.py).

Prints useful (non-PAD target) tokens/s for both and ends with `speedup X.XX` for vanilla. Writes
results/throughput.{md,json} with the command, commit, date, machine and wall time.

    python scripts/bench_throughput.py [--steps 3] [--variants vanilla,synthesizer,perceiver]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.data.collators import PackedCollator, PaddedCollator, TrimmedCollator, count_targets
from hf_knowgpt.data.pipelines import pretraining_dataset
from hf_knowgpt.lab.runner import Started, write_result

ROOT = Path(__file__).resolve().parents[1]
COURSE_DATA = ROOT.parent / "shared" / "data" / "cs224n"


def example_batches(
    corpus: Path, tokenizer, n_batches: int, batch_size: int, block_size: int, seed: int
):
    """`n_batches` lists of span-corruption rows (the course's pretraining examples), reproducibly drawn."""
    dataset = pretraining_dataset(corpus, tokenizer, block_size, seed=seed)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    rows = [dataset[i] for i in order[: n_batches * batch_size]]
    return [rows[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def train_step(model, opt, collate, rows, device, bf16: bool = False) -> torch.Tensor:
    """One AdamW training step on `rows` (collation included: packing has to pay for itself); returns
    the labels. Ends with `loss.item()`, a synchronisation on a GPU, as the trainer's per-step log does."""
    batch = collate(rows)
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    loss.item()
    return batch["labels"]


def _optimizer(model, eager: bool):
    model.config._attn_implementation = "eager" if eager else "sdpa"
    model.train()
    return torch.optim.AdamW(model.parameters(), lr=6e-3, betas=(0.9, 0.95), weight_decay=0.1)


def time_steps(model, batches, collate, eager: bool, bf16: bool = False) -> dict:
    """Seconds and useful tokens of one AdamW training step per batch (the first batch is a warm-up).

    The model's device is used. `bf16`: the forward under bf16 autocast, as `--mixed_precision bf16`
    runs it (weights, gradients and optimizer stay fp32).
    """
    opt = _optimizer(model, eager)
    device = next(model.parameters()).device
    seconds = useful = 0.0
    for i, rows in enumerate(batches):
        start = time.perf_counter()
        labels = train_step(model, opt, collate, rows, device, bf16)
        if i > 0:
            seconds += time.perf_counter() - start
            useful += count_targets(labels)
    return {"seconds": seconds, "useful_tokens": int(useful), "tokens_per_s": useful / seconds}


MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def matrix_product_bound(model, batches, collate, eager: bool) -> dict:
    """The matrix products alone of one CPU training step (the second batch, after a warm-up on the
    first), timed by torch.profiler: their seconds, GFLOP/s and the useful tokens/s the step would reach
    if everything else took no time. No fp32 step with these products can beat that rate on this CPU
    with this BLAS; SDPA's fused kernels are not counted, so the bound is an upper bound either way."""
    opt = _optimizer(model, eager)
    device = next(model.parameters()).device
    train_step(model, opt, collate, batches[0], device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, with_flops=True) as prof:
        labels = train_step(model, opt, collate, batches[1], device)
    ops = [e for e in prof.key_averages() if e.key in MATRIX_PRODUCTS]
    seconds = sum(e.self_cpu_time_total for e in ops) / 1e6
    return {
        "seconds": seconds,
        "gflops_per_s": sum(e.flops for e in ops) / seconds / 1e9,
        "tokens_per_s": count_targets(labels) / seconds,
    }


def _bound_text(r: dict) -> str:
    b = r["matrix_products"]
    if b is None:
        return ""
    return (
        f"   [bound, matrix products alone: {b['tokens_per_s']:.0f} tok/s, {r['speedup_bound']:.2f}x, "
        f"{b['gflops_per_s']:.0f} GFLOP/s]"
    )


def _round_text(results: dict) -> str:
    return "; ".join(
        f"{v} " + ", ".join(f"{x:.2f}x" for x in r["round_speedups"]) for v, r in results.items()
    )


def _bound_cell(r: dict) -> str:
    b = r.get("matrix_products")
    if b is None:
        return "not measured"
    return f"{b['tokens_per_s']:.0f} ({r['speedup_bound']:.2f}x, {b['gflops_per_s']:.0f} GFLOP/s)"


def _summed(runs: list[dict]) -> dict:
    seconds = sum(r["seconds"] for r in runs)
    useful = sum(r["useful_tokens"] for r in runs)
    return {"seconds": seconds, "useful_tokens": useful, "tokens_per_s": useful / seconds}


def bench_variant(
    attention_type: str, tokenizer, batches, seed: int, device: str = "cpu", rounds: int = 1
) -> dict:
    """The course-style step and the fast path over `rounds` alternating rounds (their speedup is that
    of the sums; each round's is kept too), then the fast path's other modes once."""
    torch.manual_seed(seed)
    model = KnowGPTForCausalLM(
        KnowGPTConfig(vocab_size=len(tokenizer), attention_type=attention_type)
    ).to(device)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    fast_collate = (
        TrimmedCollator()
        if attention_type == "perceiver"
        else PackedCollator(model.config.block_size)
    )
    course_runs, fast_runs = [], []
    for _ in range(rounds):  # alternating, so that a busy machine slows both alike
        model.load_state_dict(init)
        course_runs.append(time_steps(model, batches, PaddedCollator(), eager=True))
        model.load_state_dict(init)
        fast_runs.append(time_steps(model, batches, fast_collate, eager=False))
    course, fast = _summed(course_runs), _summed(fast_runs)
    model.load_state_dict(init)
    bound = (
        matrix_product_bound(model, batches, fast_collate, eager=False) if device == "cpu" else None
    )
    # The same step in bf16 autocast (`--mixed_precision bf16`): the same loss and examples, bf16
    # matrix products; reported beside the fp32 speedup, never as it.
    model.load_state_dict(init)
    fast_bf16 = time_steps(model, batches, fast_collate, eager=False, bf16=True)
    # Not the course's mathematics: attention dropout off (the knowledge recipes train without dropout),
    # which lets the fused attention kernel run; reported separately, never as the speedup.
    model.load_state_dict(init)
    model.config.attn_pdrop = 0.0
    no_attn_dropout = time_steps(model, batches, fast_collate, eager=False)
    return {
        "course": course,
        "fast": fast,
        "speedup": fast["tokens_per_s"] / course["tokens_per_s"],
        "round_speedups": [
            f["tokens_per_s"] / c["tokens_per_s"]
            for c, f in zip(course_runs, fast_runs, strict=True)
        ],
        # The most the fast path could reach here: its matrix products alone (CPU only).
        "matrix_products": bound,
        "speedup_bound": bound and bound["tokens_per_s"] / course["tokens_per_s"],
        "fast_bf16": fast_bf16,
        "speedup_bf16": fast_bf16["tokens_per_s"] / course["tokens_per_s"],
        "fast_no_attn_dropout": no_attn_dropout,
        "speedup_no_attn_dropout": no_attn_dropout["tokens_per_s"] / course["tokens_per_s"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per mode (plus one warm-up)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternating rounds of the course-style step and the fast path (a busy machine's noise "
        "then falls on both)",
    )
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--variants", default="vanilla,synthesizer,perceiver")
    p.add_argument(
        "--data_dir",
        default=str(
            COURSE_DATA if COURSE_DATA.is_dir() else ROOT / "hf_knowgpt" / "data" / "corpus"
        ),
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=str(ROOT / "results" / "throughput"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    started = Started()
    corpus = Path(a.data_dir) / "wiki.txt"
    tokenizer = KnowGPTTokenizer.from_corpus(corpus)
    batches = example_batches(corpus, tokenizer, a.steps + 1, a.batch_size, 128, a.seed)
    results = {}
    for variant in a.variants.split(","):
        r = results[variant] = bench_variant(
            variant, tokenizer, batches, a.seed, a.device, a.rounds
        )
        print(
            f"{variant:12s} course-style {r['course']['tokens_per_s']:8.0f} useful tok/s   "
            f"fast path {r['fast']['tokens_per_s']:8.0f} useful tok/s   ({r['speedup']:.2f}x)   "
            f"[bf16 autocast: {r['fast_bf16']['tokens_per_s']:.0f} tok/s, {r['speedup_bf16']:.2f}x]   "
            f"[attention dropout off: {r['fast_no_attn_dropout']['tokens_per_s']:.0f} tok/s, "
            f"{r['speedup_no_attn_dropout']:.2f}x]{_bound_text(r)}",
            flush=True,
        )
    payload = {
        "results": results,
        "steps": a.steps,
        "rounds": a.rounds,
        "batch_size": a.batch_size,
        "corpus": str(corpus),
        "threads": torch.get_num_threads(),
        "device": a.device,
    }
    rows = "\n".join(
        f"| {v} | {r['course']['tokens_per_s']:.0f} | {r['fast']['tokens_per_s']:.0f} | {r['speedup']:.2f}x "
        f"| {r['fast_bf16']['tokens_per_s']:.0f} ({r['speedup_bf16']:.2f}x) "
        f"| {r['fast_no_attn_dropout']['tokens_per_s']:.0f} ({r['speedup_no_attn_dropout']:.2f}x) "
        f"| {_bound_cell(r)} |"
        for v, r in results.items()
    )
    markdown = (
        "# Training throughput (useful = non-PAD target tokens per second)\n\n"
        "| variant | course-style step | fast path (same mathematics) | speedup | fast path in bf16 "
        "autocast | fast path, attention dropout off (not the course's mathematics) "
        "| bound: the fast path's matrix products alone |\n"
        "|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n{a.steps} timed steps of {a.batch_size} span-corruption examples from `{corpus.name}` per mode "
        f"(after one warm-up step), the course-style step and the fast path in {a.rounds} alternating "
        f"round(s) (speedup per round: {_round_text(results)}), on {a.device}, {torch.get_num_threads()} threads. The bound is "
        "the useful tokens/s of one fast-path step if everything but its fp32 matrix products "
        "(mm, addmm, bmm, timed by torch.profiler) took no time: no fp32 fast path with the same "
        "mathematics beats it on this CPU with this BLAS, so a speedup above the bound's needs fewer "
        "FLOPs or lower precision."
    )
    write_result(a.output, payload, markdown, started.provenance())
    if "vanilla" in results:
        print(f"speedup {results['vanilla']['speedup']:.2f}")


if __name__ == "__main__":
    main()
