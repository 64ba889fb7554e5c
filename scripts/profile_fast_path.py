"""Where the CPU fast path's training step spends its time (#18): useful tokens/s, minor page faults and
system time over the timed steps, and torch.profiler's share of the matrix products and top other ops.

    OMP_NUM_THREADS=1 taskset -c 0 python scripts/profile_fast_path.py --output results/throughput_ab/s22/profile
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 ... --output ..._hugetlb   (glibc reads it at start-up)

Writes PATH.{json,md} with the command, commit, date, machine and wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import torch
from bench_throughput import (
    COURSE_DATA,
    MATRIX_PRODUCTS,
    _optimizer,
    example_batches,
    train_step,
)
from torch.profiler import profile

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.data.collators import PackedCollator, count_targets
from hf_knowgpt.lab.runner import Started, write_result


def timed_steps(model, opt, collate, batches) -> dict:
    """Useful tokens/s, minor faults and system seconds of one fast-path step per batch."""
    cpu = torch.device("cpu")
    before, start, useful = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), 0
    for rows in batches:
        useful += count_targets(train_step(model, opt, collate, rows, cpu))
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "steps": len(batches),
        "tokens_per_s": useful / seconds,
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "system_s": after.ru_stime - before.ru_stime,
        "wall_s": seconds,
    }


def op_shares(model, opt, collate, batches, top: int) -> dict:
    """Self CPU time per op over the batches: the matrix products' share and the `top` others."""
    with profile() as prof:
        for rows in batches:
            train_step(model, opt, collate, rows, torch.device("cpu"))
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    others = sorted(
        (e for e in events if e.key not in MATRIX_PRODUCTS), key=lambda e: -e.self_cpu_time_total
    )
    return {
        "matrix_products": sum(e.self_cpu_time_total for e in events if e.key in MATRIX_PRODUCTS)
        / total,
        "top_others": {e.key: e.self_cpu_time_total / total for e in others[:top]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps (plus one warm-up)")
    parser.add_argument("--profiled_steps", type=int, default=2)
    parser.add_argument("--data_dir", default=str(COURSE_DATA))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", required=True)
    a = parser.parse_args()
    started = Started()
    torch.set_num_threads(a.threads)
    corpus = Path(a.data_dir) / "wiki.txt"
    tok = KnowGPTTokenizer.from_corpus(corpus)
    n = 1 + a.steps + a.profiled_steps
    batches = example_batches(corpus, tok, n, 128, 128, seed=0)
    torch.manual_seed(0)
    model = KnowGPTForCausalLM(KnowGPTConfig(vocab_size=len(tok), attention_type="vanilla"))
    opt, collate = _optimizer(model, eager=False), PackedCollator(model.config.block_size)
    train_step(model, opt, collate, batches[0], torch.device("cpu"))  # warm-up
    timed = timed_steps(model, opt, collate, batches[1 : 1 + a.steps])
    shares = op_shares(model, opt, collate, batches[1 + a.steps :], top=8)
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    payload = {"glibc_tunables": tunables, "threads": a.threads, **timed, **shares}
    rows = "\n".join(f"| {k} | {100 * v:.1f} % |" for k, v in shares["top_others"].items())
    markdown = (
        f"# The fast path's step (vanilla, 128 span-corruption examples, {a.threads} thread(s)"
        f"{', GLIBC_TUNABLES=' + tunables if tunables else ''})\n\n"
        f"{timed['steps']} timed steps: {timed['tokens_per_s']:.0f} useful tok/s, "
        f"{timed['minor_faults']} minor page faults, {timed['system_s']:.2f} s of system time in "
        f"{timed['wall_s']:.2f} s.\n\n"
        f"{a.profiled_steps} profiled steps: matrix products {100 * shares['matrix_products']:.1f} % "
        "of self CPU time; the largest other ops:\n\n| op | share |\n|---|---|\n" + rows + "\n"
    )
    write_result(a.output, payload, markdown, started.provenance())
    print(markdown)


if __name__ == "__main__":
    main()
