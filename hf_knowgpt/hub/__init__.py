"""Publishing: `export` (the folder to upload, with its model card) and `push` to the Hub."""

from .model_card import build_model_card, pipeline_snippet, usage_snippet
from .publish import HubError, export, push

__all__ = ["HubError", "build_model_card", "export", "pipeline_snippet", "push", "usage_snippet"]
