"""A/B of the fast path in one process: before and after per-example attention and keep-mask dropout.

"before" restores the fast path of commit 413d46d exactly: packed rows attend through the T x T mask
(`_self_attention_mask` as under `eager`), and every dropout is F.dropout. "after" is the current code.
Two models from the same weights train step by step on the same batches, alternating which goes first,
so that a busy neighbour core slows both alike. Writes PATH.{json,md} with the provenance.

    python scripts/ab_fast_path.py --threads 1 --output results/throughput_ab/segments_keepmask
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from bench_throughput import COURSE_DATA, _optimizer, example_batches, train_step

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM, KnowGPTTokenizer
from hf_knowgpt.data.collators import PackedCollator, count_targets
from hf_knowgpt.lab.runner import Started, write_result
from hf_knowgpt.model import modeling_knowgpt as mk

AFTER = (mk._self_attention_mask, mk.dropout)


def _mask_before(attention_mask, position_ids, q_len, past_len, eager):
    return AFTER[0](attention_mask, position_ids, q_len, past_len, eager=True)


def _dropout_before(x, p, training, fast):
    return F.dropout(x, p, training=True) if training and p > 0 else x


MODES = {"before": (_mask_before, _dropout_before), "after": AFTER}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--batches", type=int, default=8, help="each trained twice; the first is warm-up"
    )
    p.add_argument("--attention_type", default="vanilla")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    started = Started()
    corpus = COURSE_DATA / "wiki.txt"
    tok = KnowGPTTokenizer.from_corpus(corpus)
    batches = example_batches(corpus, tok, a.batches, 128, 128, 0)
    torch.manual_seed(0)
    config = KnowGPTConfig(vocab_size=len(tok), attention_type=a.attention_type)
    init = KnowGPTForCausalLM(config).state_dict()
    models, opts = {}, {}
    for mode in MODES:
        models[mode] = KnowGPTForCausalLM(config)
        models[mode].load_state_dict(init)
        opts[mode] = _optimizer(models[mode], eager=False)
    collate = PackedCollator(128)
    seconds, useful = dict.fromkeys(MODES, 0.0), dict.fromkeys(MODES, 0)
    try:
        for i, rows in enumerate(batches * 2):
            for mode in ("before", "after") if i % 2 == 0 else ("after", "before"):
                mk._self_attention_mask, mk.dropout = MODES[mode]
                start = time.perf_counter()
                labels = train_step(models[mode], opts[mode], collate, rows, torch.device("cpu"))
                if i > 0:
                    seconds[mode] += time.perf_counter() - start
                    useful[mode] += count_targets(labels)
    finally:
        mk._self_attention_mask, mk.dropout = AFTER
    rate = {mode: useful[mode] / seconds[mode] for mode in MODES}
    gain = rate["after"] / rate["before"]
    print(f"before {rate['before']:.0f}  after {rate['after']:.0f} useful tok/s  ({gain:.3f}x)")
    payload = {"tokens_per_s": rate, "seconds": seconds, "useful_tokens": useful, "gain": gain}
    payload |= {"attention_type": a.attention_type, "threads": torch.get_num_threads()}
    markdown = (
        f"# The fast path before and after per-example attention and keep-mask dropout ({a.attention_type})\n\n"
        f"| | useful tok/s |\n|---|---|\n| before (413d46d's fast path) | {rate['before']:.0f} |\n"
        f"| after | {rate['after']:.0f} |\n\n**after / before: {gain:.3f}x**, "
        f"{2 * a.batches - 1} timed steps each of 128 span-corruption examples, alternating, "
        f"{torch.get_num_threads()} thread(s)."
    )
    write_result(a.output, payload, markdown, started.provenance())


if __name__ == "__main__":
    main()
