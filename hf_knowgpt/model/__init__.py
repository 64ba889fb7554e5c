"""The model: exactly the files `save_pretrained` and `knowgpt export` ship as remote code.

Only flat `from .x import y` imports between them (transformers copies the module files and their
relative imports into one folder); tests/test_model.py checks that.
"""

from .configuration_knowgpt import ATTENTION_TYPES, AUTO_MAP, KnowGPTConfig
from .modeling_knowgpt import KnowGPTForCausalLM, KnowGPTModel, KnowGPTPreTrainedModel
from .tokenization_knowgpt import MASK_CHAR, PAD_CHAR, KnowGPTTokenizer, OutOfVocabularyError

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
