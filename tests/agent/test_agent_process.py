"""`cardwatch agent` as a real process: kill -9 and history, sd_notify, and start-up errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from cardwatch.cli import cli

WAIT_S = 60.0


@contextmanager
def agent_process(
    port: int, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A `cardwatch agent` subprocess on 127.0.0.1:port that is always killed at the end."""
    command = [sys.executable, "-m", "cardwatch", "agent", "--listen", f"127.0.0.1:{port}", *args]
    proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return json.load(resp)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def history_ts(port: int, card: int) -> list[float]:
    out, after = [], ""
    while True:
        page = get_json(port, f"/v1/history?card={card}&limit=500&after={after}")
        out.extend(s["ts"] for s in page["samples"])
        if page["next"] is None:
            return out
        after = page["next"]


def test_kill_9_keeps_the_database_sound_and_history_spans_restarts(tmp_path: Path, free_port: int) -> None:
    db = tmp_path / "history.db"
    args = ("--collector", "sim", "--node", "n1", "--interval", "0.02", "--db", str(db))
    with agent_process(free_port, *args) as proc:
        wait_for(lambda: len(history_ts(free_port, 0)) >= 20, "history rows")
        before = history_ts(free_port, 0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = conn.execute("SELECT count(*) FROM samples WHERE key = 'n1/0'").fetchone()[0]
    assert kept >= len(before)
    with agent_process(free_port, *args):
        wait_for(lambda: history_ts(free_port, 0)[-1] > before[-1] + 0.5, "history after restart")
        after = history_ts(free_port, 0)
    assert after[: len(before)] == before
    assert after == sorted(after)


def test_sd_notify_ready_then_watchdog(tmp_path: Path, free_port: int) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(WAIT_S)
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
        with agent_process(free_port, "--collector", "sim", "--interval", "0.05", env=env) as proc:
            messages = [sock.recv(256).decode() for _ in range(3)]
            assert get_json(free_port, "/healthz")["alive"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    assert "READY=1" in messages
    assert "WATCHDOG=1" in messages


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--listen", "0.0.0.0:0", "--collector", "sim"], "needs a bearer token"),
        (["--collector", "nosuch"], "unknown collector 'nosuch'"),
        (["--interval", "-1", "--collector", "sim"], "interval"),
        (["--collector", "sim", "--tls-cert", "/nonexistent.pem"], "together"),
        (["--config", "/nonexistent/agent.toml"], "cannot read config"),
        (["--collector", "sim", "--token-file", "/nonexistent/token"], "cannot read token file"),
    ],
)
def test_start_up_errors_are_one_clear_line(args: list[str], error: str) -> None:
    result = CliRunner().invoke(cli, ["agent", *args])
    assert result.exit_code == 1
    assert error in result.output and "Traceback" not in result.output


def test_world_readable_token_file_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc")
    token.chmod(0o644)
    result = CliRunner().invoke(
        cli, ["agent", "--collector", "sim", "--listen", "0.0.0.0:0", "--token-file", str(token)]
    )
    assert result.exit_code == 1 and "chmod 600" in result.output


def test_busy_port_is_a_clear_error(free_port: int) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cardwatch",
                "agent",
                "--collector",
                "sim",
                "--listen",
                f"127.0.0.1:{free_port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{free_port}" in result.stderr and "Traceback" not in result.stderr


HUNG_AGENT = """
import sys, threading
from aiohttp import web
from cardwatch.agent.app import create_app
from cardwatch.collectors.sim import SimCollector

class Wedged(SimCollector):
    name = "wedged"
    def read(self):
        if self.tick:
            threading.Event().wait()  # a driver call that never returns
        return super().read()

app = create_app([Wedged(node="n1", cards=1)], interval_s=0.05, tick_deadline_s=0.1, node="n1")
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True))
"""


def test_a_read_stuck_forever_does_not_block_shutdown(free_port: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HUNG_AGENT, str(free_port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_for(
            lambda: get_json(free_port, "/v1/snapshot")["cards"][0].get("state") == "stale", "stale card"
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
