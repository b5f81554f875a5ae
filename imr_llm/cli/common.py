"""What every command that reads letters shares: the model options and the one pipeline they build."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import api
from ..errors import ImrError
from ..model import ModelConfig


def add_model_arguments(parser: argparse.ArgumentParser, model_help: str, without: str = "offline, no model") -> None:
    """The model options, the same for every command that can call a model."""
    parser.add_argument("--model", help=f"{model_help} (else IMR_LLM_MODEL; none = {without})")
    parser.add_argument("--endpoint-kind", help="openai | vllm | ollama | llamacpp (else IMR_LLM_ENDPOINT_KIND)")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL (else IMR_LLM_BASE_URL or the kind's default)")
    parser.add_argument("--cache-dir", type=Path, help="response cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")


def model_config_from_args(args: argparse.Namespace) -> ModelConfig | None:
    """A ModelConfig when --model or IMR_LLM_MODEL is given, else None (offline)."""
    if not (getattr(args, "model", None) or os.environ.get("IMR_LLM_MODEL")):
        return None
    return ModelConfig.from_env(model=args.model, endpoint_kind=args.endpoint_kind, base_url=args.base_url)


def open_pipeline(args: argparse.Namespace) -> api.Pipeline | None:
    """The run's pipeline from the model options; None (the reason said) when they are wrong."""
    try:
        return api.Pipeline(model_config_from_args(args), cache_dir=args.cache_dir, use_cache=not args.no_cache)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return None


def outputs_of(args: argparse.Namespace) -> list[Path]:
    """The paths this command writes: a folder given as input does not read them back as letters."""
    return [p for p in (getattr(args, name, None) for name in ("out", "csv", "explain", "requests")) if isinstance(p, Path)]
