"""Cassette freshness. cassettes/manifest.json records the prompt hashes and client versions the
cassettes were recorded with; a prompt edited since then makes its cassettes stale (replay would
no longer match the request), which tests and eval manifests report by name."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from imr_llm.prompts import prompt_hashes

MANIFEST = "manifest.json"


def write_manifest(cassettes_dir: Path) -> None:
    path = Path(cassettes_dir) / MANIFEST
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data = {
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "prompt_hashes": prompt_hashes(),
        "packages": {name: _version(name) for name in ("openai", "instructor")},
        "cassettes": previous.get("cassettes", {}),
    }
    (Path(cassettes_dir) / MANIFEST).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def current_hashes(names: list[str]) -> dict[str, str]:
    from imr_llm.prompts import load_prompt

    return {name: load_prompt(name).short_hash for name in names}


def cassette_prompts(cassettes_dir: Path, cassette: str) -> dict[str, str]:
    """The prompt hashes one cassette (`module/test.yaml`) was recorded with."""
    path = Path(cassettes_dir) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("cassettes", {}).get(cassette, {})


def record_cassette_prompts(cassettes_dir: Path, cassette: str, hashes: dict[str, str]) -> None:
    path = Path(cassettes_dir) / MANIFEST
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault("cassettes", {})[cassette] = hashes
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
