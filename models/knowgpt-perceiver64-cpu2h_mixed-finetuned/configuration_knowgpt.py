"""Configuration of KnowGPT, the small character-level GPT of the CS224N knowledge-pretraining experiment."""

from __future__ import annotations

from transformers import PretrainedConfig

ATTENTION_TYPES = ("vanilla", "synthesizer", "perceiver")
AUTO_MAP = {
    "AutoConfig": "configuration_knowgpt.KnowGPTConfig",
    "AutoModel": "modeling_knowgpt.KnowGPTModel",
    "AutoModelForCausalLM": "modeling_knowgpt.KnowGPTForCausalLM",
}


class KnowGPTConfig(PretrainedConfig):
    """Defaults are the course model: 4 layers, 8 heads, n_embd 256, block_size 128, dropout 0.1.

    Args:
        vocab_size: number of characters, PAD (0) and MASK (1) included.
        block_size: longest sequence the model reads (learned position embeddings).
        n_layer, n_head, n_embd: depth, heads and width.
        embd_pdrop, resid_pdrop, attn_pdrop: dropout after the embeddings, on residual branches, on attention.
        attention_type: "vanilla" (softmax(QKᵀ)V), "synthesizer" (dense synthesizer) or "perceiver" (bottleneck).
        bottleneck_dim: number of Perceiver slots m (needed for, and only used by, "perceiver").
    """

    model_type = "knowgpt"
    attribute_map = {
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
        "max_position_embeddings": "block_size",
    }

    def __init__(
        self,
        vocab_size: int = 256,
        block_size: int = 128,
        n_layer: int = 4,
        n_head: int = 8,
        n_embd: int = 256,
        embd_pdrop: float = 0.1,
        resid_pdrop: float = 0.1,
        attn_pdrop: float = 0.1,
        attention_type: str = "vanilla",
        bottleneck_dim: int | None = None,
        initializer_range: float = 0.02,
        layer_norm_epsilon: float = 1e-5,
        use_cache: bool = True,
        pad_token_id: int = 0,
        mask_token_id: int = 1,
        **kwargs,
    ):
        if attention_type == "perceiver" and bottleneck_dim is None:
            bottleneck_dim = 32
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.embd_pdrop = embd_pdrop
        self.resid_pdrop = resid_pdrop
        self.attn_pdrop = attn_pdrop
        self.attention_type = attention_type
        self.bottleneck_dim = bottleneck_dim
        self.initializer_range = initializer_range
        self.layer_norm_epsilon = layer_norm_epsilon
        # The Perceiver recomputes every step; a cache it ignores would make generate() silently wrong.
        self.use_cache = use_cache and attention_type != "perceiver"
        self.pad_token_id = pad_token_id
        self.mask_token_id = mask_token_id
        # The course model has a separate, untied output head (3,323,392 parameters).
        self.tie_word_embeddings = False
        kwargs.pop("tie_word_embeddings", None)
        # save_pretrained only writes the saved class's own entry; AutoModel must load a CausalLM folder too.
        self.auto_map = {**AUTO_MAP, **(kwargs.pop("auto_map", None) or {})}
        super().__init__(**kwargs)
        self._validate()

    def _validate(self) -> None:
        if self.attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"attention_type must be one of {ATTENTION_TYPES}, got {self.attention_type!r}"
            )
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        for name in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.attention_type == "perceiver":
            m = self.bottleneck_dim
            if not isinstance(m, int) or not 0 < m <= self.block_size:
                raise ValueError(
                    f"bottleneck_dim must be an integer in [1, block_size={self.block_size}], got {m!r}"
                )
            if self.n_layer < 2:
                raise ValueError(
                    f"n_layer must be >= 2 for the perceiver (down + up blocks), got {self.n_layer}"
                )
