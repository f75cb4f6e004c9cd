"""record/export/report from the command line: kill -9 safety and one clear line for every bad input."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cardwatch.cli import cli
from cardwatch.record_store import RecordStore
from cardwatch.store import SampleStore

from .conftest import free_port, varied_samples

COMMITTED = re.compile(r"committed batch \d+: (\d+) samples.*\(total (\d+) samples\)")


def _run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def _one_error(code: int, lines: list[str], text: str) -> None:
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith("Error: ") and text in lines[0], lines


@pytest.fixture
def recorder_db(tmp_path: Path) -> Path:
    store = RecordStore(tmp_path / "fleet.db")
    store.add(varied_samples(ticks=1))
    store.close()
    return tmp_path / "fleet.db"


@pytest.fixture
def foreign_db(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--db", "{db}"],
        ["report", "--db", "{db}"],
        ["record", "127.0.0.1:1", "--db", "{db}"],
    ],
)
def test_a_database_of_something_else_is_refused(foreign_db: Path, command: list[str]) -> None:
    code, lines = _run(*(arg.replace("{db}", str(foreign_db)) for arg in command))
    _one_error(code, lines, "not a cardwatch database")
    with sqlite3.connect(foreign_db) as conn:
        assert [name for (name,) in conn.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 100)
    _one_error(*_run("export", "--db", str(text)), "not a SQLite database")
    _one_error(*_run("record", "127.0.0.1:1", "--db", str(text)), "not a SQLite database")


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    _one_error(*_run("report", "--db", str(tmp_path / "nope.db")), "no such database")


def test_report_on_an_agent_history_says_what_is_missing(tmp_path: Path) -> None:
    SampleStore(tmp_path / "agent.db").close()
    _one_error(*_run("report", "--db", str(tmp_path / "agent.db")), "no health events")


@pytest.fixture
def exclusive_lock() -> Iterator[Callable[[Path], None]]:
    """Holds an exclusive SQLite lock on a file, as another writer would, until the test ends."""
    held: list[sqlite3.Connection] = []

    def lock(path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.append(conn)

    yield lock
    for conn in held:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_locked_database_is_one_line(recorder_db: Path, exclusive_lock: Callable[[Path], None]) -> None:
    exclusive_lock(recorder_db)
    _one_error(*_run("record", "127.0.0.1:1", "--db", str(recorder_db)), "locked")


def test_a_locked_rollback_journal_database_cannot_be_exported(
    recorder_db: Path, exclusive_lock: Callable[[Path], None], tmp_path: Path
) -> None:
    with sqlite3.connect(recorder_db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    exclusive_lock(recorder_db)
    _one_error(*_run("export", "--db", str(recorder_db), "--out", str(tmp_path / "x.csv")), "locked")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--since", "yesterday"], "ISO 8601"),
        (["--until", "2026-13-45"], "ISO 8601"),
        (["--since", "-1h", "--until", "-2h"], "must be before"),
        (["--metrics", "temp_c,warp_factor"], "warp_factor"),
    ],
)
def test_usage_errors_exit_2(recorder_db: Path, args: list[str], text: str) -> None:
    for command in (["export"], ["report"]) if "--metrics" not in args else (["export"],):
        code, lines = _run(*command, "--db", str(recorder_db), *args)
        assert code == 2 and text in " ".join(lines), lines


def test_export_needs_one_source(recorder_db: Path) -> None:
    code, lines = _run("export")
    assert code == 2 and "--db" in lines[-1]
    code, lines = _run("export", "--db", str(recorder_db), "--agent", "127.0.0.1:1")
    assert code == 2


def test_an_unreachable_agent_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "agent.csv"
    code, lines = _run("export", "--agent", f"127.0.0.1:{port}", "--out", str(out))
    _one_error(code, lines, f"cannot reach agent http://127.0.0.1:{port}")
    assert list(tmp_path.iterdir()) == []
    code, lines = _run("export", "--agent", f"127.0.0.1:{port}")
    _one_error(code, lines, "cannot reach agent")


def _committed(log: Path) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for m in COMMITTED.finditer(log.read_text(errors="replace"))]


def test_kill_9_loses_at_most_the_last_batch_and_never_corrupts(
    agent_process: Callable[[int], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port = free_port()
    agent_process(port)
    db, log = tmp_path / "fleet.db", tmp_path / "record.log"
    argv = [sys.executable, "-m", "cardwatch", "record", f"127.0.0.1:{port}", "--db", str(db), "-v"]
    with log.open("wb") as err:
        recorder = subprocess.Popen([*argv, "--interval", "0.2"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while sum(1 for n, _ in _committed(log) if n) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        recorder.kill()
        recorder.wait(timeout=10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(timeout=10)
    committed = _committed(log)
    assert sum(1 for n, _ in committed if n) >= 5, log.read_text()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert rows >= committed[-1][1], "a committed batch was lost"
    again = RecordStore(db)
    again.add(varied_samples(ticks=1))
    assert again.flush() > 0
    assert again.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again.close()


def test_a_database_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    _one_error(*_run("record", "127.0.0.1:1", "--db", str(tmp_path / "plain-file" / "f.db")), "plain-file")
