"""The model side: one OpenAI-compatible client for every endpoint (OpenAI, vLLM, Ollama,
llama.cpp), chosen by configuration. It knows nothing about PDFs or letter layouts."""

from .client import StructuredClient
from .config import ModelConfig
from .usage import UsageLog, UsageRecord

__all__ = ["ModelConfig", "StructuredClient", "UsageLog", "UsageRecord"]
