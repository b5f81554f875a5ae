"""Prompt templates are files (prompts/*.j2), not strings in code. A template renders to chat
messages: lines `--- system ---` and `--- user ---` start each message. Undefined variables are
errors (StrictUndefined). Each prompt's sha256 keys the cache and is stamped on every result."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from .errors import ConfigError

_ROLE_LINE = re.compile(r"^--- (system|user|assistant) ---[ \t]*$", re.MULTILINE)


def prompts_dir() -> Path:
    """IMR_LLM_PROMPTS_DIR, else the repository's prompts/, else the installed share/imr-llm/prompts."""
    candidates = [
        os.environ.get("IMR_LLM_PROMPTS_DIR"),
        Path(__file__).resolve().parent.parent / "prompts",
        Path(sys.prefix) / "share" / "imr-llm" / "prompts",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise ConfigError("prompt templates not found: set IMR_LLM_PROMPTS_DIR to the prompts/ folder")


@dataclass(frozen=True)
class Prompt:
    name: str
    path: Path
    source: str
    sha256: str

    @property
    def short_hash(self) -> str:
        return self.sha256[:16]

    def render(self, **variables: object) -> list[dict[str, str]]:
        text = _env().from_string(self.source).render(**variables)
        parts = _ROLE_LINE.split(text)
        messages = []
        for role, content in zip(parts[1::2], parts[2::2]):
            content = content.strip()
            if content:
                messages.append({"role": role, "content": content})
        if not messages:
            raise ConfigError(f"prompt {self.name}: no '--- system ---' / '--- user ---' sections")
        return messages


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True,
                                lstrip_blocks=True, keep_trailing_newline=False)


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    path = (directory or prompts_dir()) / f"{name}.j2"
    if not path.is_file():
        raise ConfigError(f"prompt template {path} not found")
    data = path.read_bytes()
    return Prompt(name=name, path=path, source=data.decode("utf-8"), sha256=hashlib.sha256(data).hexdigest())


def prompt_hashes(directory: Path | None = None) -> dict[str, str]:
    """name → short sha256 of every template: goes into eval manifests and cache keys."""
    try:
        folder = directory or prompts_dir()
    except ConfigError:
        return {}
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.glob("*.j2"))}
