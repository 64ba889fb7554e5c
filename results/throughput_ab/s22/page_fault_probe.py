# Probe of #18 session 22 (2026-12-04, AMD EPYC, core 0, 1 thread, another run on core 1): times aten::gelu_backward inside the
# fast path's training step, the minor page faults it takes, and the same call into a preallocated output.
# Run from /work/main: OMP_NUM_THREADS=1 taskset -c 0 python results/throughput_ab/s22/page_fault_probe.py

import sys
import time

import torch

sys.path.insert(0, "scripts")
from bench_throughput import COURSE_DATA, _optimizer, example_batches, train_step

import hf_knowgpt.model.modeling_knowgpt as M
from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.data.collators import PackedCollator

torch.set_num_threads(1)
saved = []


class G(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.gelu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        import resource

        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        s = time.perf_counter()
        r = torch.ops.aten.gelu_backward(g, x)
        dt = time.perf_counter() - s
        f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        out = torch.empty_like(x)
        out.fill_(0)
        s = time.perf_counter()
        torch.ops.aten.gelu_backward.grad_input(g, x, grad_input=out)
        dt2 = time.perf_counter() - s
        print(f"  faults {f1 - f0}  prealloc-out {dt2 * 1e3:.1f}ms")
        print(
            "gelu_bwd",
            tuple(g.shape),
            g.stride(),
            x.stride(),
            g.is_contiguous(),
            f"{dt * 1e3:.1f}ms",
        )
        saved.append((g.clone(), x.clone()))
        return r


class F2:
    def __getattr__(self, k):
        return getattr(torch.nn.functional, k)

    gelu = staticmethod(G.apply)


M.F = F2()
tok = KnowGPTTokenizer.from_corpus(COURSE_DATA / "wiki.txt")
batches = example_batches(COURSE_DATA / "wiki.txt", tok, 2, 128, 128, 0)
torch.manual_seed(0)
model = KnowGPTForCausalLM(KnowGPTConfig(vocab_size=len(tok), attention_type="vanilla"))
opt = _optimizer(model, False)
col = PackedCollator(model.config.block_size)
for b in batches:
    train_step(model, opt, col, b, torch.device("cpu"))
g, x = saved[-1]
for name, gg in [("saved", g), ("randn", torch.randn_like(g)), ("saved*1e6", g * 1e6)]:
    s = time.perf_counter()
    for _ in range(5):
        torch.ops.aten.gelu_backward(gg, x)
    print(name, (time.perf_counter() - s) / 5 * 1e3, "ms")
