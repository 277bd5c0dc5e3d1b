"""Language-model access: the only package that talks to a model."""

from .base import ChatMessage, ChatModel, GenerationRequest
from .factory import build_model
from .openai_compat import OpenAICompatModel
from .scripted import ScriptedModel

__all__ = ["ChatMessage", "ChatModel", "GenerationRequest", "OpenAICompatModel", "ScriptedModel", "build_model"]
