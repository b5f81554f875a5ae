"""The model side: one OpenAI-compatible client for every endpoint (OpenAI, vLLM, Ollama,
llama.cpp), chosen by configuration. It knows nothing about PDFs or letter layouts."""

from .config import ModelConfig
from .usage import UsageLog, UsageRecord

__all__ = ["ModelConfig", "StructuredClient", "UsageLog", "UsageRecord"]


def __getattr__(name: str):
    # deferred: StructuredClient loads openai and instructor (heavy); an offline run never needs them
    if name == "StructuredClient":
        from .client import StructuredClient

        return StructuredClient
    raise AttributeError(name)
