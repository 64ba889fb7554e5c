"""KnowGPT model acceptance tests: sizes, config, causality, save/load, remote code, generation,
loss, attention parity with the SPEC formulas, packing and padding. Tiny configs, all variants."""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.testing import assert_close
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
from transformers.cache_utils import DynamicCache

from hf_knowgpt import AUTO_MAP, KnowGPTConfig, KnowGPTForCausalLM, KnowGPTModel, KnowGPTTokenizer
from hf_knowgpt.model.modeling_knowgpt import CACHE_FIELD, Segments
from hf_knowgpt.model.modeling_knowgpt import dropout as modeling_dropout

ATTENTION_TYPES = ("vanilla", "synthesizer", "perceiver")
SELF_ATTENTION_TYPES = ("vanilla", "synthesizer")  # the variants that support packed rows
IMPLEMENTATIONS = ("sdpa", "eager")
VOCAB, BLOCK = 40, 32
CHARS = string.ascii_lowercase + string.digits + " ."  # 38 characters + PAD + MASK = VOCAB
REMOTE_LOAD = Path(__file__).resolve().with_name("remote_load.py")

# Parameter counts at the defaults (course model, vocab 256); checked against the formula below.
DEFAULT_COUNTS = {"vanilla": 3_323_392, "synthesizer": 3_191_808, "perceiver": 3_331_584}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def tiny_config(attention_type: str = "vanilla", **overrides) -> KnowGPTConfig:
    perceiver = attention_type == "perceiver"
    kwargs = dict(
        vocab_size=VOCAB,
        block_size=BLOCK,
        n_layer=3 if perceiver else 2,  # the perceiver then has one middle block
        n_head=2,
        n_embd=32,
        embd_pdrop=0.0,
        resid_pdrop=0.0,
        attn_pdrop=0.0,
        attention_type=attention_type,
        bottleneck_dim=8 if perceiver else None,
    )
    return KnowGPTConfig(**{**kwargs, **overrides})


def tiny_model(attention_type: str = "vanilla", seed: int = 0, **overrides) -> KnowGPTForCausalLM:
    """Tiny model in eval mode with every weight perturbed.

    Position embeddings and all biases are initialised to zero; left so, they would hide bugs in
    positions (padding, packing, generation) and in the bias terms of the attention formulas.
    """
    torch.manual_seed(seed)
    model = KnowGPTForCausalLM(tiny_config(attention_type, **overrides))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        model.transformer.pos_emb.normal_(0.0, 0.5)
    return model.eval()


def random_ids(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random non-special token ids (never PAD 0 or MASK 1)."""
    return torch.randint(2, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def different_ids(ids: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """Ids that differ from `ids` at every position."""
    shift = torch.randint(1, VOCAB - 2, ids.shape, generator=torch.Generator().manual_seed(seed))
    return 2 + (ids - 2 + shift) % (VOCAB - 2)


@torch.no_grad()
def logits_of(model, input_ids, **kwargs) -> torch.Tensor:
    return model(input_ids, **kwargs).logits


def expected_num_parameters(c: KnowGPTConfig) -> int:
    """Parameter count from the architecture (SPEC "Model"), independent of the implementation."""
    d, V, T, h, L = c.n_embd, c.vocab_size, c.block_size, c.n_head, c.n_layer

    def linear(n_in: int, n_out: int) -> int:
        return n_in * n_out + n_out

    layer_norm = 2 * d
    mlp = linear(d, 4 * d) + linear(4 * d, d)

    def block(attention: int) -> int:
        return layer_norm + attention + layer_norm + mlp

    vanilla = 3 * linear(d, d) + linear(d, d)  # Q, K, V, output projection
    # A_i and b1 (all heads), B_i ∈ R^{d/h × ℓ} per head, b2 ∈ R^ℓ, V, output projection
    synthesizer = linear(d, d) + h * (d // h) * T + T + linear(d, d) + linear(d, d)
    cross = 3 * linear(d, d) + linear(d, d)  # Q (from one stream), K, V (other), output projection
    if c.attention_type == "vanilla":
        trunk = L * block(vanilla)
    elif c.attention_type == "synthesizer":
        trunk = L * block(synthesizer)
    else:  # basis C ∈ R^{m×d}, down block, n_layer-2 vanilla blocks, up block
        trunk = c.bottleneck_dim * d + 2 * block(cross) + (L - 2) * block(vanilla)
    return V * d + T * d + trunk + layer_norm + d * V  # embeddings, trunk, final LN, untied head


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --- 1. parameter count ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "attention_type", [pytest.param(a, id=f"{a}-{n}") for a, n in DEFAULT_COUNTS.items()]
)
def test_parameter_count_at_defaults(attention_type):
    config = KnowGPTConfig(vocab_size=256, attention_type=attention_type)
    model = KnowGPTForCausalLM(config)
    assert num_parameters(model) == model.num_parameters() == expected_num_parameters(config)
    assert num_parameters(model) == DEFAULT_COUNTS[attention_type]


def test_parameter_count_of_vanilla_course_model():
    assert num_parameters(KnowGPTForCausalLM(KnowGPTConfig(vocab_size=256))) == 3_323_392


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_parameter_count_of_tiny_config(attention_type):
    config = tiny_config(attention_type)
    assert num_parameters(KnowGPTForCausalLM(config)) == expected_num_parameters(config)


# --- 2. config ------------------------------------------------------------------------------


def without_name(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "_name_or_path"}


def test_config_defaults_are_the_course_model():
    c = KnowGPTConfig()
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd) == (256, 128, 4, 8, 256)
    assert (c.embd_pdrop, c.resid_pdrop, c.attn_pdrop) == (0.1, 0.1, 0.1)
    assert c.attention_type == "vanilla" and c.initializer_range == 0.02
    assert (c.pad_token_id, c.mask_token_id) == (0, 1)
    assert c.tie_word_embeddings is False
    assert c.use_cache is True
    perceiver = KnowGPTConfig(attention_type="perceiver")
    assert perceiver.bottleneck_dim == 32
    assert perceiver.use_cache is False  # it has no cache; generate must feed the whole sequence


def test_config_aliases_read_and_write():
    c = KnowGPTConfig()
    assert (c.hidden_size, c.num_attention_heads, c.num_hidden_layers) == (256, 8, 4)
    assert c.max_position_embeddings == 128
    c.hidden_size, c.num_attention_heads, c.num_hidden_layers = 64, 4, 3
    c.max_position_embeddings = 48
    assert (c.n_embd, c.n_head, c.n_layer, c.block_size) == (64, 4, 3, 48)
    c = KnowGPTConfig(
        hidden_size=64, num_attention_heads=4, num_hidden_layers=3, max_position_embeddings=48
    )
    assert (c.n_embd, c.n_head, c.n_layer, c.block_size) == (64, 4, 3, 48)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(attention_type="linear"), "attention_type"),
        (dict(n_embd=30), "n_embd"),
        (dict(hidden_size=30), "n_embd"),
        (dict(n_head=0), "n_head"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(attn_pdrop=1.0), "attn_pdrop"),
        (dict(attention_type="perceiver", bottleneck_dim=129), "bottleneck_dim"),
        (dict(attention_type="perceiver", block_size=16), "bottleneck_dim"),  # default m = 32
        (dict(attention_type="perceiver", bottleneck_dim=0), "bottleneck_dim"),
        (dict(attention_type="perceiver", n_layer=1), "n_layer"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_config_rejects_invalid_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        KnowGPTConfig(**kwargs)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_config_save_load_round_trip(attention_type, tmp_path):
    config = tiny_config(attention_type)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert saved["auto_map"] == AUTO_MAP
    assert set(AUTO_MAP) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM"}
    assert saved["model_type"] == "knowgpt"
    for loaded in (KnowGPTConfig.from_pretrained(tmp_path), AutoConfig.from_pretrained(tmp_path)):
        assert isinstance(loaded, KnowGPTConfig)
        assert without_name(loaded.to_dict()) == without_name(config.to_dict())


# --- 3. causality ---------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_future_tokens_do_not_change_past_logits(attention_type, implementation):
    model = tiny_model(attention_type)
    model.set_attn_implementation(implementation)
    ids = random_ids(2, BLOCK)
    base = logits_of(model, ids)
    for t in (0, 3, 7, 8, 20, BLOCK - 2):  # 7, 8: either side of the perceiver's m = 8 slots
        changed = ids.clone()
        changed[:, t + 1 :] = different_ids(ids[:, t + 1 :], seed=t)
        logits = logits_of(model, changed)
        assert_close(logits[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0)
        assert not torch.allclose(logits[:, t + 1 :], base[:, t + 1 :])


# --- 4. save / load -------------------------------------------------------------------------


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_save_pretrained_from_pretrained_equal_logits(attention_type, tmp_path):
    model = tiny_model(attention_type)
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors"} <= files
    assert {"configuration_knowgpt.py", "modeling_knowgpt.py"} <= files  # remote code
    pickles = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
    assert not [name for name in files if name.endswith(pickles)]
    assert set(load_file(tmp_path / "model.safetensors")) == set(model.state_dict())
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["auto_map"] == AUTO_MAP and config["attention_type"] == attention_type

    ids = random_ids(2, 20)
    expected = logits_of(model, ids)
    for cls in (KnowGPTForCausalLM, AutoModelForCausalLM):
        loaded, info = cls.from_pretrained(tmp_path, output_loading_info=True)
        assert type(loaded) is KnowGPTForCausalLM
        assert not info["missing_keys"] and not info["unexpected_keys"]
        assert_close(logits_of(loaded, ids), expected, atol=0, rtol=0)
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is KnowGPTModel
    with torch.no_grad():
        assert_close(
            base(ids).last_hidden_state,
            model.transformer(ids).last_hidden_state,
            atol=0,
            rtol=0,
        )


# --- 5. remote code in a clean environment --------------------------------------------------


@pytest.mark.slow
def test_remote_code_load_without_package(tmp_path):
    tok = KnowGPTTokenizer.from_corpus(CHARS)
    text = "where was he born. london 1901."
    folders = []
    for attention_type in ATTENTION_TYPES:
        folder = tmp_path / attention_type
        model = tiny_model(attention_type)
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        assert (folder / "tokenization_knowgpt.py").is_file()
        ids = random_ids(2, 24)
        prompt = random_ids(2, 5, seed=1)
        with torch.no_grad():
            reference = {
                "input_ids": ids,
                "logits": model(ids).logits,
                "hidden": model.transformer(ids).last_hidden_state,
                "prompt": prompt,
                "generated": model.generate(prompt, max_new_tokens=10, do_sample=False),
            }
        save_file(
            {k: v.contiguous() for k, v in reference.items()}, folder / "reference.safetensors"
        )
        reference_text = {"text": text, "ids": tok.encode_chars(text)}
        (folder / "reference.json").write_text(json.dumps(reference_text), encoding="utf-8")
        folders.append(str(folder))

    hf_home = tmp_path / "hf_home"
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(REMOTE_LOAD), "--hf-home", str(hf_home), *folders]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert len(lines) == len(ATTENTION_TYPES), result.stdout
    assert all(" transformers_modules." in line for line in lines)
    assert (hf_home / "modules" / "transformers_modules").is_dir()


# --- 6. generation --------------------------------------------------------------------------


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_cached_generate_equals_uncached_and_manual_greedy(attention_type):
    model = tiny_model(attention_type)
    prompt, n_new = random_ids(2, 5), 20
    manual = prompt
    for _ in range(n_new):
        next_id = logits_of(model, manual)[:, -1].argmax(-1, keepdim=True)
        manual = torch.cat([manual, next_id], dim=-1)

    cached = model.generate(
        prompt, max_new_tokens=n_new, do_sample=False, use_cache=True, return_dict_in_generate=True
    )
    uncached = model.generate(prompt, max_new_tokens=n_new, do_sample=False, use_cache=False)
    assert torch.equal(cached.sequences, manual)
    assert torch.equal(uncached, manual)
    if attention_type != "perceiver":  # the cache was really used
        assert getattr(cached, CACHE_FIELD).get_seq_length() == 5 + n_new - 1


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_generate_passes_no_argument_that_forward_ignores(attention_type, monkeypatch):
    """Every argument `generate` hands to forward is a declared parameter, or left at its off value.

    transformers 5.24 renamed the cache argument; a forward that swallowed it in **kwargs decoded
    from an empty cache, silently. Whatever name the running version uses must be one forward reads.
    """
    model = tiny_model(attention_type)
    declared = set(inspect.signature(KnowGPTForCausalLM.forward).parameters) - {"self", "kwargs"}
    seen: list[dict] = []
    forward = model.forward

    @functools.wraps(forward)  # generate inspects forward's signature
    def recording_forward(*args, **kwargs):
        seen.append(dict(kwargs))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recording_forward)
    tok = KnowGPTTokenizer.from_corpus(CHARS)
    batch = tok(["where was he born", "a"], padding=True, return_tensors="pt")
    for use_cache in (True, False):
        model.generate(**batch, max_new_tokens=4, do_sample=False, use_cache=use_cache)
    assert len(seen) == 2 * 4
    ignored = {
        k for call in seen for k, v in call.items() if k not in declared and v not in (None, False)
    }
    assert not ignored, f"generate passes {sorted(ignored)}, which forward would not read"
    if attention_type != "perceiver":  # generate hands the cache over under the name forward reads
        assert any(call.get(CACHE_FIELD) is not None for call in seen)


def test_forward_rejects_an_argument_it_would_ignore():
    model = tiny_model()
    with pytest.raises(TypeError, match="bogus"):
        model(random_ids(1, 4), bogus=torch.ones(1))
    with pytest.raises(TypeError, match="output_attentions"):
        model(random_ids(1, 4), output_attentions=True)
    model(random_ids(1, 4), output_attentions=False, output_hidden_states=None)  # off: fine
    with pytest.raises(ValueError, match="not both"):
        model(random_ids(1, 4), cache=DynamicCache(), past_key_values=DynamicCache())


@pytest.mark.parametrize("name", ["cache", "past_key_values"])
@pytest.mark.parametrize("attention_type", SELF_ATTENTION_TYPES)
def test_cache_under_either_name_is_used(attention_type, name):
    """Prefill, then feed one token at a time with the cache: the logits equal the uncached ones
    and the cache grows by one each step, whichever name the cache is passed under."""
    model = tiny_model(attention_type)
    ids = random_ids(2, 9)
    full = logits_of(model, ids)
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        out = model(ids[:, :5], use_cache=True, **{name: cache})
        assert_close(out.logits, full[:, :5])
        returned = getattr(out, CACHE_FIELD)
        assert returned is cache and cache.get_seq_length() == 5
        for t in range(5, 9):
            out = model(ids[:, t : t + 1], use_cache=True, **{name: cache})
            assert_close(out.logits[:, 0], full[:, t])
            assert cache.get_seq_length() == t + 1


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_sampling_with_fixed_seed_is_reproducible(attention_type):
    model = tiny_model(attention_type)
    prompt = random_ids(2, 5)

    def sample(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return model.generate(prompt, max_new_tokens=20, do_sample=True, temperature=1.0)

    first = sample(7)
    assert first.shape == (2, 25) and torch.equal(first[:, :5], prompt)
    assert int(first.min()) >= 0 and int(first.max()) < VOCAB
    assert torch.equal(sample(7), first)
    assert not torch.equal(sample(8), first)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_batched_left_padded_generation_equals_one_by_one(attention_type):
    tok = KnowGPTTokenizer.from_corpus(CHARS)
    assert len(tok) == VOCAB
    model = tiny_model(attention_type)
    prompts = ["where was he born", "a", "london 1901.", "abc"]
    batch = tok(prompts, padding=True, return_tensors="pt")
    assert batch["attention_mask"][1].tolist() == [0] * 16 + [1]  # padded on the left
    width, n_new = batch["input_ids"].size(1), 8
    out = model.generate(**batch, max_new_tokens=n_new, do_sample=False)
    for row, prompt in enumerate(prompts):
        single = tok(prompt, return_tensors="pt")
        one = model.generate(**single, max_new_tokens=n_new, do_sample=False)
        new_alone = one[0, single["input_ids"].size(1) :]
        assert torch.equal(out[row, width:], new_alone), prompt
        assert tok.decode(out[row, width:]) == tok.decode(new_alone)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_generation_beyond_block_size_raises(attention_type):
    model = tiny_model(attention_type)
    with pytest.raises(ValueError, match="block_size"):
        model.generate(random_ids(1, 10), max_new_tokens=BLOCK, do_sample=False)
    with pytest.raises(ValueError, match="block_size"):
        model(random_ids(1, BLOCK + 1))


# --- 7. loss --------------------------------------------------------------------------------


def shifted_cross_entropy_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """Σ −log p(label[t+1] | ≤ t) over targets that are not -100, and their number."""
    log_probs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    targets = labels[:, 1:]
    total, count = 0.0, 0
    for b in range(targets.size(0)):
        for t in range(targets.size(1)):
            if targets[b, t] != -100:
                total -= float(log_probs[b, t, targets[b, t]])
                count += 1
    return total, count


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_loss_is_shifted_cross_entropy_ignoring_minus_100(attention_type):
    model = tiny_model(attention_type)
    ids = random_ids(3, BLOCK)
    labels = different_ids(ids)  # aligned with input_ids, independent of them
    labels[0, :5] = -100
    labels[1, -7:] = -100
    labels[2, 10:12] = -100
    with torch.no_grad():
        out = model(ids, labels=labels)
        total, count = shifted_cross_entropy_sum(out.logits, labels)
        assert count == 3 * (BLOCK - 1) - 4 - 7 - 2
        assert_close(out.loss.item(), total / count, atol=1e-6, rtol=1e-5)
        summed = model(ids, labels=labels, num_items_in_batch=37).loss
        assert_close(summed.item(), total / 37, atol=1e-6, rtol=1e-5)
        as_tensor = model(ids, labels=labels, num_items_in_batch=torch.tensor(37)).loss
        assert_close(as_tensor.item(), total / 37, atol=1e-6, rtol=1e-5)
        labels[:, 0] = 3  # column 0 is never a target
        assert_close(model(ids, labels=labels).loss, out.loss, atol=0, rtol=0)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_backward_reaches_every_parameter(attention_type):
    model = tiny_model(attention_type).train()
    ids = random_ids(2, BLOCK)  # full length, so every position embedding / column of B is used
    model(ids, labels=ids).loss.backward()
    without_grad = [
        name for name, p in model.named_parameters() if p.grad is None or not bool(p.grad.any())
    ]
    assert without_grad == []


# --- 8. parity with the SPEC formulas, eager vs sdpa ----------------------------------------


def causal_softmax_times(scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    T = scores.size(-1)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ values


def plain_vanilla_attention(x: torch.Tensor, attn, n_head: int) -> torch.Tensor:
    """softmax((XQᵢ)(XKᵢ)ᵀ/√(d/h)) (XVᵢ) per head, heads concatenated, output projection."""
    d = x.size(-1)
    hs = d // n_head
    Wq, Wk, Wv = attn.qkv.weight.split(d, dim=0)  # nn.Linear stores (out, in)
    bq, bk, bv = attn.qkv.bias.split(d)
    heads = []
    for i in range(n_head):
        s = slice(i * hs, (i + 1) * hs)
        Q, K, V = x @ Wq[s].T + bq[s], x @ Wk[s].T + bk[s], x @ Wv[s].T + bv[s]
        heads.append(causal_softmax_times(Q @ K.transpose(-2, -1) / math.sqrt(d / n_head), V))
    return torch.cat(heads, dim=-1) @ attn.proj.weight.T + attn.proj.bias


def plain_synthesizer_attention(x: torch.Tensor, attn, n_head: int) -> torch.Tensor:
    """softmax(ReLU(XAᵢ + b₁)Bᵢ + b₂)(XVᵢ) per head; Bᵢ and b₂ cut to the first T columns."""
    T, d = x.size(-2), x.size(-1)
    hs = d // n_head
    heads = []
    for i in range(n_head):
        s = slice(i * hs, (i + 1) * hs)
        A, b1 = attn.w1.weight[s].T, attn.w1.bias[s]  # A_i ∈ R^{d × d/h}
        B, b2 = attn.w2[i, :, :T], attn.b2[:T]  # B_i ∈ R^{d/h × T}
        V = x @ attn.value.weight[s].T + attn.value.bias[s]
        heads.append(causal_softmax_times(F.relu(x @ A + b1) @ B + b2, V))
    return torch.cat(heads, dim=-1) @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("attention_type", "plain"),
    [("vanilla", plain_vanilla_attention), ("synthesizer", plain_synthesizer_attention)],
)
def test_attention_matches_spec_formula(attention_type, plain, implementation):
    model = tiny_model(attention_type)
    model.set_attn_implementation(implementation)
    x = torch.randn(2, 12, 32, generator=torch.Generator().manual_seed(3))
    position_ids = torch.arange(12).expand(2, 12)
    for block in model.transformer.blocks:
        with torch.no_grad():
            got = block.attn(x, None, position_ids)
            expected = plain(x, block.attn, model.config.n_head)
        assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_eager_and_sdpa_agree(attention_type, tmp_path, monkeypatch):
    tiny_model(attention_type).save_pretrained(tmp_path)
    sdpa = KnowGPTForCausalLM.from_pretrained(tmp_path, attn_implementation="sdpa")
    eager = KnowGPTForCausalLM.from_pretrained(tmp_path, attn_implementation="eager")
    assert sdpa.config._attn_implementation == "sdpa"
    assert eager.config._attn_implementation == "eager"
    ids = random_ids(2, 20)
    mask = torch.ones_like(ids)
    mask[1, :6] = 0
    inputs = [{}, {"attention_mask": mask}]
    if attention_type != "perceiver":
        inputs.append(
            {"position_ids": torch.cat([torch.arange(8), torch.arange(12)]).expand(2, 20)}
        )
    expected = [logits_of(sdpa, ids, **kwargs) for kwargs in inputs]

    def no_sdpa(*args, **kwargs):
        raise AssertionError("the eager implementation called scaled_dot_product_attention")

    monkeypatch.setattr(F, "scaled_dot_product_attention", no_sdpa)
    for kwargs, want in zip(inputs, expected, strict=True):
        assert_close(logits_of(eager, ids, **kwargs), want, atol=1e-5, rtol=1e-5)


# --- 9. packing -----------------------------------------------------------------------------


def pack(examples: list[torch.Tensor], width: int = BLOCK) -> dict[str, torch.Tensor]:
    """One packed row like PackedCollator: positions restart per example, the PAD tail is its own
    segment, labels -100 on each example's first token and on the tail."""
    used = sum(len(e) for e in examples)
    tail = width - used
    input_ids = torch.cat([*examples, torch.zeros(tail, dtype=torch.long)])
    position_ids = torch.cat([torch.arange(len(e)) for e in examples] + [torch.arange(tail)])
    labels = input_ids.clone()
    start = 0
    for e in examples:
        labels[start] = -100
        start += len(e)
    labels[used:] = -100
    return {"input_ids": input_ids, "position_ids": position_ids, "labels": labels}


def packed_batch(rows: list[list[torch.Tensor]]) -> dict[str, torch.Tensor]:
    packed = [pack(examples) for examples in rows]
    return {key: torch.stack([p[key] for p in packed]) for key in packed[0]}


def example_rows(seed: int = 0) -> list[list[torch.Tensor]]:
    """Row 0: three examples and a PAD tail; row 1: two examples filling the row exactly."""
    lengths = [[7, 10, 9], [12, 20]]
    return [
        [random_ids(n, seed=seed + 10 * r + k) for k, n in enumerate(row)]
        for r, row in enumerate(lengths)
    ]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("attention_type", SELF_ATTENTION_TYPES)
def test_packed_rows_equal_examples_run_alone(attention_type, implementation):
    model = tiny_model(attention_type)
    model.set_attn_implementation(implementation)
    rows = example_rows()
    with torch.no_grad():
        packed = model(**packed_batch(rows), num_items_in_batch=1)
        total = torch.zeros(())
        for r, examples in enumerate(rows):
            start = 0
            for e in examples:
                alone = model(e[None], labels=e[None], num_items_in_batch=1)
                got = packed.logits[r, start : start + len(e)]
                assert_close(got, alone.logits[0], atol=1e-5, rtol=0)
                total += alone.loss
                start += len(e)
    assert_close(packed.loss, total, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("attention_type", SELF_ATTENTION_TYPES)
def test_perturbing_one_packed_example_leaves_the_others(attention_type):
    model = tiny_model(attention_type)
    rows = example_rows()
    batch = packed_batch(rows)
    base = logits_of(model, batch["input_ids"], position_ids=batch["position_ids"])
    changed_rows = [list(row) for row in rows]
    changed_rows[0][1] = different_ids(rows[0][1])  # the middle example of row 0 (positions 7..16)
    changed = packed_batch(changed_rows)
    logits = logits_of(model, changed["input_ids"], position_ids=changed["position_ids"])
    others = torch.ones(BLOCK, dtype=torch.bool)
    others[7:17] = False
    assert_close(logits[0, others], base[0, others], atol=1e-6, rtol=0)
    assert_close(logits[1], base[1], atol=1e-6, rtol=0)
    assert not torch.allclose(logits[0, 7:17], base[0, 7:17])


def test_segments_gather_each_packed_example_into_a_bucket_and_back():
    """Packed rows' examples (lengths 7, 10, 9 + a PAD tail of 6; 12, 20) regrouped for attention."""
    batch = packed_batch(example_rows())
    segments = Segments.of(batch["position_ids"])
    assert segments.buckets == ((5, 16), (1, 32))  # 7, 10, 9, 6 and 12 -> 16; 20 -> 32
    x = torch.randn(2, 3, BLOCK, 4)  # (B, nh, T, d)
    parts = segments.gather(x)
    assert [tuple(p.shape) for p in parts] == [(5, 3, 16, 4), (1, 3, 32, 4)]
    assert_close(segments.scatter(parts), x, atol=0, rtol=0)
    # The first example of row 0: its 7 tokens, then its last token repeated (after every real query).
    first = parts[0][0, 0, :, 0]
    assert_close(first[:7], x[0, 0, :7, 0], atol=0, rtol=0)
    assert (first[7:] == x[0, 0, 6, 0]).all()
    # A row that does not start at position 0 still starts a segment (none crosses rows).
    odd = Segments.of(torch.tensor([[0, 1, 2, 0, 1], [3, 4, 0, 1, 2]]))
    assert odd.buckets == ((4, 16),)
    assert odd.index.view(4, 16)[:, 0].tolist() == [0, 3, 5, 7]


def test_keep_mask_dropout_keeps_one_minus_p_scaled_and_masks_its_gradient():
    torch.manual_seed(0)
    x = torch.rand(1000, 1000).add_(1.0).requires_grad_()
    y = modeling_dropout(x, 0.1, training=True, fast=True)
    kept = y != 0
    n = kept.numel()
    assert abs(kept.sum().item() - 0.9 * n) < 5 * math.sqrt(n * 0.9 * 0.1)
    assert_close(y[kept], x[kept] / 0.9, atol=0, rtol=1e-6)
    y.sum().backward()
    assert_close(x.grad, kept.float() / 0.9, atol=0, rtol=1e-6)
    assert modeling_dropout(x, 0.1, training=False, fast=True) is x


def test_set_attn_implementation_switches_the_model():
    """The tests' `eager` cases are real only if this works (transformers refuses by default)."""
    model = tiny_model("vanilla")
    for implementation in ("eager", "sdpa"):
        model.set_attn_implementation(implementation)
        assert model.config._attn_implementation == implementation


def test_only_eager_draws_the_courses_dropout(monkeypatch):
    """`eager` is the course's form (F.dropout); the fast path draws its own keep-masks on CPU."""
    calls = []
    real = F.dropout
    monkeypatch.setattr(F, "dropout", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = tiny_model("vanilla", embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1).train()
    ids = random_ids(12, seed=0)[None]
    for implementation, drawn in (("sdpa", False), ("eager", True)):
        calls.clear()
        model.set_attn_implementation(implementation)
        model(ids, labels=ids)
        assert bool(calls) == drawn


# --- 10. left padding -----------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_left_padded_forward_equals_unpadded(attention_type, implementation):
    model = tiny_model(attention_type)
    model.set_attn_implementation(implementation)
    long, short = random_ids(14, seed=1), random_ids(9, seed=2)
    pads = random_ids(5, seed=3)  # arbitrary tokens under the mask: only the mask may hide them
    batch = torch.stack([long, torch.cat([pads, short])])
    mask = torch.ones_like(batch)
    mask[1, :5] = 0
    logits = logits_of(model, batch, attention_mask=mask)
    assert_close(logits[0], logits_of(model, long[None])[0], atol=1e-5, rtol=1e-5)
    assert_close(logits[1, 5:], logits_of(model, short[None])[0], atol=1e-5, rtol=1e-5)
    all_ones = logits_of(model, long[None], attention_mask=torch.ones(1, 14, dtype=torch.long))
    assert_close(all_ones, logits_of(model, long[None]), atol=1e-6, rtol=0)
