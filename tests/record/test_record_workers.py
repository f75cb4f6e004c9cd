"""`cardwatch record --workers N`: agents shared among processes writing one database, stopping together."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import free_port

NODES = ("w-0", "w-1", "w-2")


@pytest.fixture
def sharded(
    agent_process: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """A `cardwatch record --workers 2` process over three agents, once every node has samples recorded."""
    urls = []
    for node in NODES:
        port = free_port()
        agent_process(port, node=node)
        urls.append(f"127.0.0.1:{port}")
    db, log = tmp_path / "fleet.db", tmp_path / "record.log"
    argv = [sys.executable, "-m", "cardwatch", "record", *urls, "--db", str(db), "--workers", "2", "-v"]
    with log.open("wb") as err:
        recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    try:
        _until(lambda: _nodes(db) == set(NODES), log)
        yield recorder, db, log
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(timeout=10)


def _nodes(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return {node for (node,) in conn.execute("SELECT DISTINCT node FROM samples")}
    except sqlite3.Error:
        return set()


def _until(done: Callable[[], bool], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_workers_record_every_agent_and_stop_together(
    sharded: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    recorder, db, log = sharded
    recorder.send_signal(signal.SIGTERM)
    assert recorder.wait(timeout=30) == 0, log.read_text()
    text = log.read_text()
    assert "recorder-1" in text and text.count("stopped:") == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {n for (n,) in conn.execute("SELECT node FROM nodes")} == set(NODES)


def test_a_worker_stops_by_itself_when_its_parent_is_killed(
    sharded: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    recorder, db, log = sharded
    recorder.kill()
    recorder.wait(timeout=10)
    _until(
        lambda: "is gone; writing the last batch" in log.read_text() and "stopped:" in log.read_text(), log
    )
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
