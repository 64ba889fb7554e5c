"""The tiny model the evaluation, report and probe tests share: 2 layers that memorise a few rows."""

from __future__ import annotations

import torch

from hf_knowgpt import KnowGPTConfig, KnowGPTForCausalLM


def memorised_model(
    tokenizer,
    texts: list[str],
    first_targets: list[int],
    *,
    steps: int,
    attention_type: str = "vanilla",
    block_size: int = 64,
) -> KnowGPTForCausalLM:
    """Train (AdamW at 1e-2, seed 0, no dropout) on `texts`, each learned from its `first_targets`
    character on; returns the model in eval mode."""
    config = KnowGPTConfig(
        vocab_size=tokenizer.vocab_size,
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=block_size,
        attention_type=attention_type,
        bottleneck_dim=16 if attention_type == "perceiver" else None,
        embd_pdrop=0.0,
        resid_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(0)
    model = KnowGPTForCausalLM(config)
    ids = torch.zeros(len(texts), block_size, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for i, (text, first) in enumerate(zip(texts, first_targets, strict=True)):
        row = tokenizer.encode_chars(text)
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, first : len(row)] = ids[i, first : len(row)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
