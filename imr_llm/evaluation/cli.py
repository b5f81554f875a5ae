"""`imr-llm eval` argument wiring (filled in by the harness)."""

from __future__ import annotations


def add_eval_parser(sub) -> None:  # pragma: no cover - replaced when the harness lands
    return None
