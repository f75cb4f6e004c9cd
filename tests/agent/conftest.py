"""Fixtures for the agent tests; puts agent_helpers on the path (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on right now (for agents run as subprocesses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
