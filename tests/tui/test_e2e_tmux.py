"""End to end: the real `cardwatch fleet` in tmux against two real sim agents on loopback, driven by keys."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

DEADLINE_S = 40.0
AGENT = (sys.executable, "-m", "cardwatch", "agent", "--collector", "sim", "--interval", "0.5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, done: Callable[[], bool], show: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{show()}")
        time.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def agent_ports(tmp_path: Path) -> Iterator[list[int]]:
    ports = [_free_port(), _free_port()]
    config = tmp_path / "agent.toml"
    config.write_text("")
    procs = [
        subprocess.Popen(
            [*AGENT, "--node", f"e2e-{i}", "--listen", f"127.0.0.1:{port}", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, port in enumerate(ports)
    ]
    try:
        for port in ports:
            _wait(f"the agent on port {port}", lambda port=port: _listening(port))
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


class Tmux:
    """A private tmux server (its own socket), so the test never touches the user's sessions."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "tmux.sock")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=20, check=check
        )

    def pane(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e", check=False).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", "e2e", check=False).returncode == 0


def test_cardwatch_fleet_in_tmux(agent_ports: list[int], tmp_path: Path) -> None:
    tmux = Tmux(tmp_path)
    urls = " ".join(f"127.0.0.1:{port}" for port in agent_ports)
    command = f"cd {shlex.quote(str(tmp_path))} && env -u COLUMNS -u LINES {shlex.quote(sys.executable)} -m cardwatch fleet {urls} --interval 0.5"
    env = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    try:
        tmux.run(
            "-f",
            os.devnull,
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "200",
            "-y",
            "60",
            *(a for k, v in env.items() for a in ("-e", f"{k}={v}")),
            command,
        )
        _wait(
            "both agents live",
            lambda: "nodes 2/2 live" in tmux.pane() and "all agents live" in tmux.pane(),
            tmux.pane,
        )
        assert "e2e-0" in tmux.pane() and "e2e-1" in tmux.pane()

        tmux.run("send-keys", "-t", "e2e", "m")
        _wait("the temperature metric", lambda: "metric temp" in tmux.pane(), tmux.pane)

        tmux.run("send-keys", "-t", "e2e", "Enter")
        _wait("the node screen", lambda: f"agent http://127.0.0.1:{agent_ports[0]}" in tmux.pane(), tmux.pane)
        _wait("the node's cards", lambda: "state / reasons" in tmux.pane(), tmux.pane)

        tmux.run("send-keys", "-t", "e2e", "Escape")
        _wait("the overview again", lambda: "metric temp" in tmux.pane(), tmux.pane)

        tmux.run("send-keys", "-t", "e2e", "e")
        _wait("the export notice", lambda: any(tmp_path.glob("cardwatch-fleet-*.csv")), tmux.pane)

        tmux.run("send-keys", "-t", "e2e", "q")
        _wait("cardwatch to quit", lambda: not tmux.alive(), tmux.pane)
    finally:
        tmux.run("kill-server", check=False)
