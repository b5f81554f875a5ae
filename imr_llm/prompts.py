"""Prompt templates are files (prompts/*.j2), not strings in code. A template renders to chat
messages: lines `--- system ---`, `--- user ---` and `--- assistant ---` start each message; an
undefined variable is an error. Few-shot examples beside it (`<name>.examples.json`) are passed as
`examples`. The sha256 of the template and its examples keys the cache and is stamped on results."""

from __future__ import annotations

import hashlib
import json
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
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                            keep_trailing_newline=False)


def prompts_dir() -> Path:
    """IMR_LLM_PROMPTS_DIR, else the repository's prompts/, else the installed share/imr-llm/prompts."""
    for candidate in (os.environ.get("IMR_LLM_PROMPTS_DIR"), Path(__file__).resolve().parent.parent / "prompts",
                      Path(sys.prefix) / "share" / "imr-llm" / "prompts"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise ConfigError("prompt templates not found: set IMR_LLM_PROMPTS_DIR to the prompts/ folder")


@dataclass(frozen=True)
class Prompt:
    name: str
    source: str
    sha256: str
    examples: object = None  # parsed <name>.examples.json, if there is one

    @property
    def short_hash(self) -> str:
        return self.sha256[:16]

    def render(self, **variables: object) -> list[dict[str, str]]:
        if self.examples is not None:
            variables = {"examples": self.examples, **variables}
        parts = _ROLE_LINE.split(_template(self.source).render(**variables))
        messages = [{"role": role, "content": content.strip()}
                    for role, content in zip(parts[1::2], parts[2::2]) if content.strip()]
        if not messages:
            raise ConfigError(f"prompt {self.name}: no '--- system ---' / '--- user ---' sections")
        return messages


@lru_cache(maxsize=64)
def _template(source: str):
    """Compiled once per template text (compiling is most of a render's cost)."""
    return _ENV.from_string(source)


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    path = (directory or prompts_dir()) / f"{name}.j2"
    if not path.is_file():
        raise ConfigError(f"prompt template {path} not found")
    data, examples = path.read_bytes(), None
    examples_path = path.with_name(f"{name}.examples.json")
    if examples_path.is_file():
        extra = examples_path.read_bytes()
        try:
            examples = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{examples_path}: not valid JSON (line {exc.lineno})") from None
        data = data + b"\0" + extra
    return Prompt(name, path.read_text(encoding="utf-8"), hashlib.sha256(data).hexdigest(), examples)


def prompt_hashes(directory: Path | None = None) -> dict[str, str]:
    """name -> short sha256 of every template: goes into eval manifests and cache keys."""
    try:
        folder = directory or prompts_dir()
    except ConfigError:
        return {}
    return {p.stem: load_prompt(p.stem, folder).short_hash for p in sorted(folder.glob("*.j2"))}
