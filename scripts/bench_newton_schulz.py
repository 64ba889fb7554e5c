"""Muon's Newton–Schulz iterations in bf16 against fp32, on the hidden matrices of a KnowGPT model.

Times `optimizers.orthogonalize` (torch.optim.Muon's iteration; equal to torch's in bf16, tested) on
every matrix Muon trains, once per dtype, the seconds of one optimizer step's iterations. On a CPU
that emulates bf16 this is why `optimizers.Muon` runs them in fp32 there. Writes
results/newton_schulz.{md,json} with the command, commit, date, machine and wall time.

    python scripts/bench_newton_schulz.py [--n_embd 128 256] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM
from hf_knowgpt.lab.runner import Started, write_result
from hf_knowgpt.training.optimizers import hidden_matrices, orthogonalize
from hf_knowgpt.utils import bf16_is_native

ROOT = Path(__file__).resolve().parents[1]
GROUP = {"ns_coefficients": (3.4445, -4.7750, 2.0315), "ns_steps": 5, "eps": 1e-7}
"""torch.optim.Muon's defaults (its DEFAULT_A/B/C, DEFAULT_NS_STEPS and eps)."""


def step_seconds(matrices: list[torch.Tensor], dtype: torch.dtype, repeats: int) -> float:
    """Best of `repeats` of one optimizer step's iterations over `matrices` (after a warm-up)."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        for m in matrices:
            orthogonalize(m, GROUP, dtype)
        if i:
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n_embd", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", default=str(ROOT / "results" / "newton_schulz"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    started = Started()
    torch.manual_seed(0)
    rows = []
    for n_embd in a.n_embd:
        model = KnowGPTForCausalLM(KnowGPTConfig(vocab_size=256, n_embd=n_embd))
        hidden = hidden_matrices(model)
        matrices = [torch.randn_like(q) for n, q in model.named_parameters() if n in hidden]
        bf16, fp32 = (step_seconds(matrices, d, a.repeats) for d in (torch.bfloat16, torch.float32))
        rows.append({"n_embd": n_embd, "matrices": len(matrices), "bf16_s": bf16, "fp32_s": fp32})
        print(f"n_embd {n_embd}: {len(matrices)} matrices, bf16 {bf16:.3f} s, fp32 {fp32:.3f} s "
              f"({bf16 / fp32:.1f}x)", flush=True)  # fmt: skip
    native = bf16_is_native("cpu")
    table = "\n".join(
        f"| {r['n_embd']} | {r['matrices']} | {r['bf16_s']:.3f} | {r['fp32_s']:.3f} "
        f"| {r['bf16_s'] / r['fp32_s']:.1f}x |"
        for r in rows
    )
    markdown = (
        "# Muon's Newton–Schulz iterations, bf16 against fp32 (seconds per optimizer step)\n\n"
        "| n_embd | hidden matrices | bf16 | fp32 | bf16 / fp32 |\n|---|---|---|---|---|\n"
        f"{table}\n\nThis CPU's bf16: {'native' if native else 'emulated'}; "
        f"{torch.get_num_threads()} threads, best of {a.repeats}."
    )
    payload = {"rows": rows, "cpu_bf16_native": native, "threads": torch.get_num_threads()}
    write_result(a.output, payload, markdown, started.provenance())


if __name__ == "__main__":
    main()
