"""The grounding context validators read, handed over without instructor: its `context=` argument
also renders every message as a Jinja template, and the messages hold the letter's text (a rationale
with `{{ 6 * 7 }}` reached the model as `42`). So it is set here for one call (a ContextVar: each
concurrent call sees its own), and validators read it through `context_of(info)`."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

current: ContextVar[dict[str, Any] | None] = ContextVar("imr_llm_validation_context", default=None)


def context_of(info) -> dict[str, Any] | None:
    """The validation context: pydantic's (when validating directly) or the current call's."""
    context = getattr(info, "context", None)
    return context if context is not None else current.get()
