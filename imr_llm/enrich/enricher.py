"""Placeholder while the model step is written."""

from __future__ import annotations


class Enricher:
    def __init__(self, client) -> None:
        self.client = client
        self.config = client.config

    def prompt_hashes(self) -> dict[str, str]:
        return {}

    def enrich(self, source, det) -> None:
        raise NotImplementedError
