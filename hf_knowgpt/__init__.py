"""hf_knowgpt: the CS224N knowledge-pretraining experiment as Hugging Face software.

Importing the package registers KnowGPT with the Auto classes, and marks the classes so that
`save_pretrained` writes their code and a complete `auto_map` (loadable with `trust_remote_code=True`
where this package is not installed).
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from .model.configuration_knowgpt import ATTENTION_TYPES, AUTO_MAP, KnowGPTConfig
from .model.modeling_knowgpt import KnowGPTForCausalLM, KnowGPTModel, KnowGPTPreTrainedModel
from .model.tokenization_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer, OutOfVocabularyError

__version__ = "0.1.0"

AutoConfig.register("knowgpt", KnowGPTConfig, exist_ok=True)
AutoModel.register(KnowGPTConfig, KnowGPTModel, exist_ok=True)
AutoModelForCausalLM.register(KnowGPTConfig, KnowGPTForCausalLM, exist_ok=True)
AutoTokenizer.register(KnowGPTConfig, slow_tokenizer_class=KnowGPTTokenizer, exist_ok=True)

KnowGPTConfig.register_for_auto_class()
KnowGPTModel.register_for_auto_class("AutoModel")
KnowGPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")
KnowGPTTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = [
    "ATTENTION_TYPES",
    "AUTO_MAP",
    "KnowGPTConfig",
    "KnowGPTForCausalLM",
    "KnowGPTModel",
    "KnowGPTPreTrainedModel",
    "KnowGPTTokenizer",
    "MASK_CHAR",
    "OutOfVocabularyError",
    "PAD_CHAR",
]
