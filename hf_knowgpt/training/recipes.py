"""The named recipes: presets for each job's training arguments.

A recipe fills in every argument the user did not give. `cs224n` reproduces the course exactly:
pretrain 650 epochs, batch 128, lr 6e-3; finetune 10 epochs (75 from scratch), batch 256, lr 6e-4;
AdamW (0.9, 0.95), weight decay 0.1 on every weight but the biases, grad-norm clip 1.0, the
token-based `cs224n` LR schedule, and no shuffling (the course's DataLoader reads the files in order).
"""

from __future__ import annotations


def _finetune(schedule: str, packing: bool, **extra) -> dict[str, dict]:
    """The course's finetuning: 10 epochs after pretraining, 75 from scratch, batch 256 at 6e-4."""
    common = dict(
        batch_size=256, learning_rate=6e-4, lr_schedule=schedule, packing=packing, **extra
    )
    return {
        "finetune": dict(num_epochs=10, **common),
        "finetune_scratch": dict(num_epochs=75, **common),
    }


# The CS224N trainer's optimizer groups and unshuffled DataLoader, for the faithful recipes. The groups
# matter: with decay on Linear weights only (and shuffled files), 650 epochs of vanilla left the early
# loss plateau late and gave 4 % dev, against 25-30 % with these settings; 100-epoch ablations show that
# the decay groups, not the file order, decide when it leaves (results/cs224n_gpu_runs/).
_COURSE_TRAINER = dict(decay="course", shuffle=False)


_COURSE_PRETRAIN = dict(
    num_epochs=650, batch_size=128, learning_rate=6e-3, lr_schedule="cs224n", **_COURSE_TRAINER
)


# Short budgets: the course's span corruption (each fact re-ordered around the mask), the train QA pairs
# interleaved (never dev/test), no dropout (it slows memorisation), small batches, cosine over the budget.
_MIXED_PRETRAIN = dict(
    num_epochs=650, batch_size=32, learning_rate=3e-3, lr_schedule="cosine", packing=True,
    mix_qa=True, qa_repeats=2, dropout=0.0, warmup_steps=100,
)  # fmt: skip


# Two CPU cores, two hours: the course's pretraining, its cosine fitted to a 110-minute budget (no
# second rise), no dropout, a short warmup, bf16 autocast where the CPU has AVX512-BF16 or AMX
# (1.7x the fp32 steps there, 0.05x where bf16 is emulated: `--mixed_precision auto`;
# results/throughput.md); the finetuning at lr 1.5e-4, the best of an LR scan
# (1e-4 to 6e-4: 17.8-20.2 %) on the released pretrained model, among 13 finetunings that scatter
# 15-21 % (results/extraction/cpu2h_release2*). The released models/knowgpt-vanilla-cpu2h-*.
_CPU2H: dict[str, dict] = {
    "pretrain": dict(_COURSE_PRETRAIN, packing=True, lr_schedule="cosine", max_minutes=110,
                     dropout=0.0, warmup_steps=100, mixed_precision="auto"),
    "finetune": {**_finetune("cs224n", packing=True, **_COURSE_TRAINER)["finetune"],
                 "learning_rate": 1.5e-4},
    "finetune_scratch": _finetune("cs224n", packing=True, **_COURSE_TRAINER)["finetune_scratch"],
}  # fmt: skip


# recipe -> job -> preset. "finetune_scratch" applies when finetuning without a pretrained model.
RECIPES: dict[str, dict[str, dict]] = {
    "cs224n": {"pretrain": dict(**_COURSE_PRETRAIN, packing=False),
               **_finetune("cs224n", packing=False, **_COURSE_TRAINER)},
    # The course's mathematics, pad-free: packed rows give the same loss on the same examples.
    "cs224n_fast": {"pretrain": dict(**_COURSE_PRETRAIN, packing=True),
                    **_finetune("cs224n", packing=True, **_COURSE_TRAINER)},
    "cpu2h": _CPU2H,
    # cpu2h with the 2,000 train QA pairs interleaved into pretraining (never dev/test) and the rows
    # shuffled each epoch: 54.8 % dev pretrained alone, 56.0 % after cpu2h's finetuning, from 114 CPU
    # minutes; the same mix unshuffled gave 3.8 % (results/mixed_training/).
    "cpu2h_mixed": {**_CPU2H, "pretrain": dict(_CPU2H["pretrain"], mix_qa=True, shuffle=True)},
    "mixed": {"pretrain": _MIXED_PRETRAIN, **_finetune("cosine", packing=True)},
    # mixed with next-character LM on each biography's first block_size characters instead of span
    # corruption: every row holds the name, and 91 % of train answers lie in the first 112 characters.
    "mixed_lm": {"pretrain": {**_MIXED_PRETRAIN, "objective": "lm"}, **_finetune("cosine", packing=True)},
    # mixed + knowledge augmentation: two sentence-shuffled copies of every biography.
    "augmented": {"pretrain": {**_MIXED_PRETRAIN, "augment": 2}, **_finetune("cosine", packing=True)},
    # Salient span masking: span corruption whose masked span is a whole named entity (a place, a
    # name, a month), so pretraining practises writing a fact after ⁇ from the rest of the text,
    # as the questions ask. The train QA pairs are not mixed in: finetuning teaches the question.
    "salient": {"pretrain": {**_MIXED_PRETRAIN, "mix_qa": False, "qa_repeats": 1, "salient_spans": 1.0},
                **_finetune("cosine", packing=True)},
    # The demo: a few CPU minutes on synthetic biographies. Salient span masking on each biography's
    # start (where the name is), one sentence-shuffled copy, no dropout; the train questions mixed in,
    # each in five phrasings (dev never); bf16 autocast where it is native (25.5 epochs in 6 minutes
    # against 20.5 in fp32 on an AMD EPYC with AVX512-BF16), fp32 elsewhere; a smaller model (see
    # demo.py). At 200 dev people this beat the course's span corruption, plain LM, more train
    # people, other batch sizes and unique surnames (results/demo_diagnostics/). Muon on the hidden matrices: seed 1's demo from 37.0 %
    # (AdamW) to 75.5 % at the same 8 minutes, 43 epochs against 51 (RESULTS.md).
    "demo": {
        "pretrain": dict(
            num_epochs=1000, batch_size=32, learning_rate=3e-3, lr_schedule="cosine", packing=True,
            objective="span", salient_spans=1.0, window="prefix", augment=1, dropout=0.0,
            warmup_steps=50, mix_qa=True, qa_repeats=1, question_forms=5, mixed_precision="auto",
            optimizer="muon",
        ),
        # lr 1.5e-4, as cpu2h's: on the demo's pretrained models of 6 and 8.5 minutes, 6e-4 took them
        # from 27.0 % and 30.5 % down to 23.0 % and 24.0 %; 1.5e-4 up to 29.5 % and 37.0 %.
        "finetune": dict(num_epochs=10, batch_size=64, learning_rate=1.5e-4, lr_schedule="cosine",
                         packing=True, dropout=0.0),
        "finetune_scratch": dict(num_epochs=10, batch_size=64, learning_rate=1e-3, lr_schedule="cosine",
                                 packing=True, dropout=0.0),
    },
}  # fmt: skip
