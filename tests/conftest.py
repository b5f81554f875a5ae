"""Shared fixtures. The default run is offline: any attempt to open a network connection
(other than a Unix socket) fails the test, so a cassette that is missing or unused cannot
silently fall through to a live endpoint."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "tests" / "fixtures" / "letters"
SEEDS = sorted(LETTERS.glob("0*.txt"))
GOLD_SEEDS = ROOT / "evals" / "gold" / "seeds"
GOLD_DEV = ROOT / "evals" / "gold" / "dev"
DEV_LETTERS = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _block_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise NetworkBlocked(f"tests run offline; blocked a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


def load_gold(path: Path) -> dict:
    return json.loads(path.read_text())


def dev_letters_available() -> bool:
    return DEV_LETTERS.is_dir() and any(DEV_LETTERS.glob("*.pdf"))


needs_dev_letters = pytest.mark.skipif(
    not dev_letters_available(), reason="the DWC dev letters (../shared/data/dwc-imr/dev) are not on this machine"
)
