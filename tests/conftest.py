"""Test fixtures: a fresh data dir per test, no network beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from simulator.settings import PROJECT_ROOT, Settings

# The embedded model is assembled once in the user's real data dir (as `make run`
# does), read before the autouse fixture below points SIMULATOR_DATA_DIR elsewhere.
REAL_DATA_DIR = Settings().data_dir
SCENARIOS = PROJECT_ROOT / "scenarios"

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"tests may not reach the network ({host})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for name in ("SIMULATOR_BACKEND", "SIMULATOR_BASE_URL", "SIMULATOR_MODEL_PATH", "SIMULATOR_DATABASE_URL",
                 "SIMULATOR_LANGUAGE", "SIMULATOR_SCENARIOS_DIR", "SIMULATOR_SEMANTIC", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIMULATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(backend="scripted", data_dir=tmp_path / "data", scenarios_dir=SCENARIOS)


@pytest.fixture
def scenarios_dir() -> Path:
    return SCENARIOS
