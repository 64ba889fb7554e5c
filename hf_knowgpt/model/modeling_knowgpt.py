"""KnowGPT: the CS224N character-level GPT with three attention variants.

vanilla      softmax(XQ (XK)ᵀ / √(d/h)) XV                               (Vaswani et al., 2017)
synthesizer  softmax(ReLU(XA + b₁) B + b₂) XV, no query-key product       (Tay et al., 2020, arXiv:2005.00743)
perceiver    m learned slots cross-attend to the input, blocks on slots,
             the input cross-attends back to the slots                   (Hawthorne et al., 2022, arXiv:2202.07765)

Every variant is causal. Three ways of calling the model share one mask rule (`_self_attention_mask`):
right-padded rows (plain causal), left-padded rows for generation (`attention_mask` hides the pads) and
packed rows, where `position_ids` restart at 0 at each example and attention never crosses examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.utils import logging

from .configuration_knowgpt import KnowGPTConfig

logger = logging.get_logger(__name__)

# transformers 5.24 renamed the generation cache from `past_key_values` to `cache`: `generate` passes it
# under the new name and reads it back from the output's field of that name. The model takes either name
# and hands the cache back under the field the running version's output classes declare.
CACHE_FIELD = (
    "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
)


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    """The cache given under either name (both at once is an error)."""
    if cache is not None and past_key_values is not None:
        raise ValueError("pass the cache as `cache` or as `past_key_values`, not both")
    return cache if cache is not None else past_key_values


def _reject_unused(kwargs: dict) -> None:
    """Refuse any argument this model would otherwise ignore: an unused input means a wrong result.

    Flags left at their off value (None or False, e.g. `output_attentions=False`) change nothing.
    """
    unused = sorted(k for k, v in kwargs.items() if v is not None and v is not False)
    if unused:
        raise TypeError(f"KnowGPT's forward does not support the argument(s) {', '.join(unused)}")


def attend(
    q, k, v, mask, *, dropout_p: float, scale: float | None, eager: bool, causal: bool = False
) -> torch.Tensor:
    """Masked softmax attention. mask: bool (B, 1, T, S), True = may attend; None = causal (T == S) or
    T == 1; Segments = packed rows' examples, each attending causally to itself alone.

    causal: the mask never lets a query see a later key (self-attention), so with T == S the first half
    of the queries needs only the first half of the keys.
    """
    if isinstance(mask, Segments):
        outs = [
            attend(qg, kg, vg, None, dropout_p=dropout_p, scale=scale, eager=eager, causal=True)
            for qg, kg, vg in zip(*(mask.gather(t) for t in (q, k, v)), strict=True)
        ]
        return mask.scatter(outs)
    T, S = q.size(-2), k.size(-2)
    if eager:
        return _explicit_attention(q, k, v, mask, dropout_p, scale, fast=False)
    if dropout_p > 0 and q.device.type == "cpu":
        # On CPU, SDPA with dropout falls back to a kernel ~15x slower than the explicit form. Run
        # that form in two halves: the first half of the queries never scores the second half of
        # the keys (a quarter of the scores, all masked: no product, softmax or dropout mask).
        # Same mathematics (tests/test_recipes.py).
        if not (causal and T == S and T > 1):
            return _explicit_attention(q, k, v, mask, dropout_p, scale, fast=True)
        if mask is None:
            mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()[None, None]
        h = T // 2
        first = _explicit_attention(
            q[..., :h, :], k[..., :h, :], v[..., :h, :], mask[..., :h, :h], dropout_p, scale, True
        )
        second = _explicit_attention(q[..., h:, :], k, v, mask[..., h:, :], dropout_p, scale, True)
        return torch.cat([first, second], dim=-2)
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=mask,
        dropout_p=dropout_p,
        is_causal=mask is None and T > 1,
        scale=scale,
    )


def _explicit_attention(
    q, k, v, mask, dropout_p: float, scale: float | None, fast: bool
) -> torch.Tensor:
    """The course's explicit form: scores, masked_fill, softmax, dropout, weighted sum."""
    T = q.size(-2)
    scores = (q @ k.transpose(-2, -1)) * (
        scale if scale is not None else 1.0 / math.sqrt(q.size(-1))
    )
    if mask is None and T > 1:
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return dropout(F.softmax(scores, dim=-1), dropout_p, dropout_p > 0, fast) @ v


def is_eager(config: KnowGPTConfig) -> bool:
    """`eager` asks for the course's explicit form (its attention and F.dropout); anything else, the
    fast path. Read at each call, so `set_attn_implementation` takes effect at once."""
    return config._attn_implementation == "eager"


class _KeepMaskDropout(torch.autograd.Function):
    """Dropout from a bool keep-mask, `torch.rand(...) >= p`: the same Bernoulli(1 - p) mask and
    1/(1 - p) scale as F.dropout (the keep probability to float32's 2**-24). On CPU, F.dropout draws
    it with `bernoulli_`, a double per element, and keeps it as floats; this draws floats and keeps
    one byte per element."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = torch.rand(x.shape, device=x.device) >= p
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return x.mul(keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool, fast: bool) -> torch.Tensor:
    """F.dropout; on CPU outside `eager` (the course's form), drawn as a bool keep-mask."""
    if not training or p == 0:
        return x
    if fast and x.device.type == "cpu" and p < 1:
        return _KeepMaskDropout.apply(x, p)
    return F.dropout(x, p, training=True)


class Dropout(nn.Dropout):
    """nn.Dropout through `dropout`: the fast form unless the config asks for `eager`."""

    def __init__(self, config: KnowGPTConfig, p: float):
        super().__init__(p)
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, fast=not is_eager(self.config))


@dataclass(frozen=True)
class Segments:
    """The examples of packed rows, regrouped so that attention runs on each example alone.

    Attention within packed rows costs T x T scores per row, most of them between different examples
    (masked). Here each example's tokens are gathered into a bucket of examples of similar length,
    padded to the bucket's length m: causal attention there scores only m x m per example.

    index: flat positions (row * T + offset) of every bucket's tokens, bucket after bucket; bucket g is
        buckets[g] = (n, m): n examples of m tokens. An example shorter than m repeats its last
        position, which lies after every real query (causal: no real query sees it).
    inverse: (B * T,) for each packed position, its place in `index`.
    One gather and one scatter per tensor (not one per bucket: their backwards would each fill a
    zero (B * T, ...) tensor).
    """

    index: torch.Tensor
    buckets: tuple[tuple[int, int], ...]
    inverse: torch.Tensor
    shape: tuple[int, int]

    BUCKET = 16  # bucket lengths are multiples of this

    @classmethod
    def of(cls, position_ids: torch.Tensor) -> Segments:
        """Segments start wherever position_ids is 0, and at every row's start."""
        B, T = position_ids.shape
        first = position_ids.cpu() == 0
        first[:, 0] = True
        starts = torch.nonzero(first.reshape(-1)).flatten()
        lengths = torch.diff(starts, append=torch.tensor([B * T]))
        sizes = ((lengths + cls.BUCKET - 1) // cls.BUCKET) * cls.BUCKET
        index, buckets, inverse, done = [], [], torch.empty(B * T, dtype=torch.long), 0
        for m in sorted(set(sizes.tolist())):
            chosen = torch.nonzero(sizes == m).flatten()
            offs = torch.arange(m)
            last = (lengths[chosen] - 1)[:, None]
            idx = starts[chosen][:, None] + torch.minimum(offs[None, :], last)  # (n, m)
            real = offs[None, :] <= last
            inverse[idx[real]] = done + torch.nonzero(real.flatten()).flatten()
            index.append(idx.flatten())
            buckets.append((len(chosen), m))
            done += idx.numel()
        device = position_ids.device
        return cls(torch.cat(index).to(device), tuple(buckets), inverse.to(device), (B, T))

    def gather(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, nh, T, d) -> per bucket (n, nh, m, d)."""
        B, nh, T, d = x.shape
        flat = x.transpose(1, 2).reshape(B * T, nh, d).index_select(0, self.index)
        parts = flat.split([n * m for n, m in self.buckets])
        return [
            part.view(n, m, nh, d).transpose(1, 2)
            for part, (n, m) in zip(parts, self.buckets, strict=True)
        ]

    def scatter(self, ys: list[torch.Tensor]) -> torch.Tensor:
        """Per bucket (n, nh, m, d) -> (B, nh, T, d)."""
        nh, d = ys[0].shape[1], ys[0].shape[3]
        flat = torch.cat([y.transpose(1, 2).reshape(-1, nh, d) for y in ys])
        B, T = self.shape
        return flat.index_select(0, self.inverse).view(B, T, nh, d).transpose(1, 2)


def _split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)


def _merge_heads(y: torch.Tensor) -> torch.Tensor:
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).contiguous().view(B, T, nh * hs)  # (B, T, C)


class VanillaSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention (one fused QKV projection)."""

    def __init__(self, config: KnowGPTConfig, layer_idx: int):
        super().__init__()
        self.config, self.layer_idx, self.n_head = config, layer_idx, config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_drop = Dropout(config, config.resid_pdrop)

    def forward(self, x, mask, position_ids, cache: Cache | None = None):
        q, k, v = (_split_heads(t, self.n_head) for t in self.qkv(x).split(x.size(-1), dim=-1))
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)  # (B, nh, S, hs)
        y = attend(
            q,
            k,
            v,
            mask,
            dropout_p=self.config.attn_pdrop if self.training else 0.0,
            scale=None,
            eager=is_eager(self.config),
            causal=True,
        )
        return self.resid_drop(self.proj(_merge_heads(y)))


class SynthesizerSelfAttention(nn.Module):
    """Dense synthesizer: the score of query i for key j is ReLU(x_i Aₕ + b₁) Bₕ[:, pos_j] + b₂[pos_j].

    That is a dot product between q' = [ReLU(x_i Aₕ + b₁), 1] and k' = [Bₕ[:, pos_j], b₂[pos_j]], so it runs
    through the same fused attention kernel (scale 1) and the same KV cache as vanilla attention.
    """

    def __init__(self, config: KnowGPTConfig, layer_idx: int):
        super().__init__()
        self.config, self.layer_idx, self.n_head = config, layer_idx, config.n_head
        hs = config.n_embd // config.n_head
        self.w1 = nn.Linear(config.n_embd, config.n_embd)  # A and b₁, all heads
        self.w2 = nn.Parameter(torch.empty(config.n_head, hs, config.block_size))  # Bₕ
        self.b2 = nn.Parameter(torch.zeros(config.block_size))
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_drop = Dropout(config, config.resid_pdrop)

    def forward(self, x, mask, position_ids, cache: Cache | None = None):
        B, T, _ = x.shape
        r = _split_heads(F.relu(self.w1(x)), self.n_head)  # (B, nh, T, hs)
        q = torch.cat([r, r.new_ones(B, self.n_head, T, 1)], dim=-1)  # (B, nh, T, hs+1)
        cols = self.w2[:, :, position_ids].permute(
            2, 0, 3, 1
        )  # (nh, hs, B, T) -> (B, nh, T, hs): Bₕ at key positions
        bias = self.b2[position_ids][:, None, :, None].expand(B, self.n_head, T, 1)
        k = torch.cat([cols, bias], dim=-1)  # (B, nh, T, hs+1)
        v = _split_heads(self.value(x), self.n_head)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        y = attend(
            q,
            k,
            v,
            mask,
            dropout_p=self.config.attn_pdrop if self.training else 0.0,
            scale=1.0,
            eager=is_eager(self.config),
            causal=True,
        )
        return self.resid_drop(self.proj(_merge_heads(y)))


class CrossAttention(nn.Module):
    """Multi-head attention from a query stream to a separate key/value stream (the Perceiver's projections)."""

    def __init__(self, config: KnowGPTConfig):
        super().__init__()
        self.config, self.n_head = config, config.n_head
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.kv = nn.Linear(config.n_embd, 2 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_drop = Dropout(config, config.resid_pdrop)

    def forward(self, x_q, x_kv, mask):
        q = _split_heads(self.query(x_q), self.n_head)  # (B, nh, Tq, hs)
        k, v = (_split_heads(t, self.n_head) for t in self.kv(x_kv).split(x_kv.size(-1), dim=-1))
        y = attend(
            q,
            k,
            v,
            mask,
            dropout_p=self.config.attn_pdrop if self.training else 0.0,
            scale=None,
            eager=is_eager(self.config),
        )
        return self.resid_drop(self.proj(_merge_heads(y)))


class MLP(nn.Module):
    def __init__(self, config: KnowGPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.drop = Dropout(config, config.resid_pdrop)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))


SELF_ATTENTION_CLASSES = {"vanilla": VanillaSelfAttention, "synthesizer": SynthesizerSelfAttention}


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, config: KnowGPTConfig, layer_idx: int, attention_type: str | None = None):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = SELF_ATTENTION_CLASSES[attention_type or config.attention_type](
            config, layer_idx
        )
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, mask, position_ids, cache=None):
        x = x + self.attn(self.ln1(x), mask, position_ids, cache)
        return x + self.mlp(self.ln2(x))


class CrossBlock(nn.Module):
    """A block whose attention reads keys/values from another stream; `residual` is the stream it adds to."""

    def __init__(self, config: KnowGPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CrossAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, residual, x_kv, mask):
        x = residual + self.attn(self.ln1(residual), self.ln1(x_kv), mask)
        return x + self.mlp(self.ln2(x))


class PerceiverTrunk(nn.Module):
    """Down block (m slots ← input, slot i sees positions ≤ i), n_layer−2 blocks on the slots, up block."""

    def __init__(self, config: KnowGPTConfig):
        super().__init__()
        self.basis = nn.Parameter(torch.empty(config.bottleneck_dim, config.n_embd))  # C ∈ R^{m×d}
        self.down = CrossBlock(config)
        self.middle = nn.ModuleList(Block(config, i, "vanilla") for i in range(config.n_layer - 2))
        self.up = CrossBlock(config)

    def forward(self, x, attention_mask, position_ids):
        B, T, _ = x.shape
        m = self.basis.size(0)
        slots_idx = torch.arange(m, device=x.device)
        valid = (
            torch.ones(B, T, dtype=torch.bool, device=x.device)
            if attention_mask is None
            else attention_mask.bool()
        )
        if bool(((position_ids[:, 1:] == 0) & valid[:, :-1]).any()):
            raise ValueError(
                "the perceiver cannot read packed rows (position_ids restarting at 0): its slots mix the "
                "whole row; use padded or length-trimmed batches"
            )
        # slot i reads input positions <= i; input position p reads slots <= p
        down_mask = (position_ids[:, None, :] <= slots_idx[None, :, None]) & valid[
            :, None, :
        ]  # (B, m, T)
        up_mask = slots_idx[None, None, :] <= position_ids[:, :, None]  # (B, T, m)
        slots = self.down(self.basis.expand(B, m, -1), x, down_mask[:, None])
        slot_pos = slots_idx.expand(B, m)
        for block in self.middle:
            slots = block(slots, None, slot_pos)
        return self.up(x, slots, up_mask[:, None])


def _self_attention_mask(
    attention_mask, position_ids, q_len: int, past_len: int, eager: bool
) -> torch.Tensor | Segments | None:
    """Bool (B, 1, T, S) mask for self-attention, or None when plain causal attention is exact.

    A key is visible if it is not later than the query, not padding (attention_mask), and, for packed
    rows (no cache), in the query's segment; a segment starts wherever position_ids is 0. Packed rows
    without padding give Segments instead (the same rule, without scoring other examples), except
    under `eager`, the course's form.
    """
    kv_len = past_len + q_len
    padded = attention_mask is not None and not bool(attention_mask[:, -kv_len:].all())
    packed = past_len == 0 and position_ids is not None and bool((position_ids[:, 1:] == 0).any())
    if not padded and not packed and (past_len == 0 or q_len == 1):
        return None
    if packed and not padded and not eager:
        return Segments.of(position_ids)
    device = position_ids.device
    q_idx = torch.arange(past_len, kv_len, device=device)
    k_idx = torch.arange(kv_len, device=device)
    mask = (k_idx[None, :] <= q_idx[:, None])[None]  # (1, T, S)
    if padded:
        mask = mask & attention_mask[:, None, -kv_len:].bool()
    if packed:
        seg = (position_ids == 0).cumsum(-1)  # (B, T)
        mask = mask & (seg[:, :, None] == seg[:, None, :])
    # A query that sees nothing (a pad) would give NaN; let every query see itself.
    mask = mask | (k_idx[None, :] == q_idx[:, None])[None]
    return mask[:, None]  # (B, 1, T, S)


class KnowGPTPreTrainedModel(PreTrainedModel):
    config_class = KnowGPTConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _no_split_modules = ["Block", "CrossBlock"]

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        # transformers guesses from the module's source (AttentionInterface) and says no; every
        # attention here reads config._attn_implementation at each call, so switching is safe.
        return True

    def _init_weights(self, module):
        super()._init_weights(module)  # Linear/Embedding N(0, 0.02), biases 0, LayerNorm (1, 0)
        if isinstance(module, KnowGPTModel):
            init.zeros_(module.pos_emb)
        elif isinstance(module, SynthesizerSelfAttention):
            init.normal_(module.w2, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.b2)
        elif isinstance(module, PerceiverTrunk):
            init.xavier_uniform_(module.basis)


class KnowGPTModel(KnowGPTPreTrainedModel):
    """Embeddings and the transformer trunk; returns the final LayerNorm's hidden states."""

    def __init__(self, config: KnowGPTConfig):
        super().__init__(config)
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = Dropout(config, config.embd_pdrop)
        if config.attention_type == "perceiver":
            self.perceiver = PerceiverTrunk(config)
        else:
            self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self):
        return self.tok_emb

    def set_input_embeddings(self, value):
        self.tok_emb = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        _reject_unused(kwargs)
        past_key_values = _one_cache(cache, past_key_values)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.tok_emb(input_ids) if inputs_embeds is None else inputs_embeds
        B, T, _ = x.shape
        perceiver = self.config.attention_type == "perceiver"
        use_cache = (self.config.use_cache if use_cache is None else use_cache) and not perceiver
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        if not use_cache:
            past_key_values = None
        past_len = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            if attention_mask is not None:  # left padding: count real tokens only
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -T:]
            else:
                position_ids = torch.arange(past_len, past_len + T, device=x.device).expand(B, T)
        if int(position_ids.max()) >= self.config.block_size:
            raise ValueError(
                f"sequence reaches position {int(position_ids.max())} but block_size is {self.config.block_size}; "
                "shorten the input (or max_new_tokens)"
            )
        x = self.drop(x + self.pos_emb[0, position_ids])  # (B, T, C)
        if perceiver:
            x = self.perceiver(x, attention_mask, position_ids)
        else:
            mask = _self_attention_mask(
                attention_mask,
                position_ids,
                T,
                past_len,
                eager=is_eager(self.config),
            )
            for block in self.blocks:
                x = block(x, mask, position_ids, past_key_values)
        return BaseModelOutputWithPast(
            last_hidden_state=self.ln_f(x), **{CACHE_FIELD: past_key_values}
        )


class KnowGPTForCausalLM(KnowGPTPreTrainedModel, GenerationMixin):
    """KnowGPT with its (untied) character head; `labels` align with `input_ids` and are shifted here."""

    def __init__(self, config: KnowGPTConfig):
        super().__init__(config)
        self.transformer = KnowGPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        _reject_unused(kwargs)
        out = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_one_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
        )
        logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
        loss = None
        if labels is not None:
            # Position t predicts label t+1; -100 is ignored. With num_items_in_batch the loss is a sum
            # divided by that count, so gradient accumulation over uneven micro-batches stays exact.
            shift_logits = logits[:, :-1].reshape(-1, logits.size(-1)).float()
            shift_labels = labels[:, 1:].reshape(-1).to(shift_logits.device)
            if num_items_in_batch is None:
                loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
            else:
                loss = F.cross_entropy(
                    shift_logits, shift_labels, ignore_index=-100, reduction="sum"
                )
                loss = loss / num_items_in_batch
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, **{CACHE_FIELD: getattr(out, CACHE_FIELD)}
        )

    def generate(self, inputs=None, generation_config=None, **kwargs):
        """`GenerationMixin.generate`, refusing up front what would run past `block_size`."""
        ids = inputs if inputs is not None else kwargs.get("input_ids")
        config = generation_config or self.generation_config
        max_new = kwargs.get("max_new_tokens") or config.max_new_tokens
        if (
            ids is not None
            and max_new is not None
            and ids.shape[-1] + max_new > self.config.block_size
        ):
            raise ValueError(
                f"prompt of {ids.shape[-1]} tokens + max_new_tokens={max_new} exceeds block_size "
                f"{self.config.block_size}; shorten the prompt or lower max_new_tokens"
            )
        return super().generate(inputs, generation_config, **kwargs)

    def prepare_inputs_for_generation(self, input_ids, next_sequence_length=None, **kwargs):
        if (
            self.config.attention_type == "perceiver"
        ):  # no cache: feed the whole sequence every step
            next_sequence_length = None
            for name in ("cache", "past_key_values"):  # the name generate uses differs by version
                kwargs.pop(name, None)
            kwargs["use_cache"] = False
        return super().prepare_inputs_for_generation(
            input_ids, next_sequence_length=next_sequence_length, **kwargs
        )
