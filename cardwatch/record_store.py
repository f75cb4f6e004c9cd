"""The recorder's database: the agent's sample store plus nodes, cards, health events and vendor events.

The schema is documented in docs/recording.md. Everything queued between two flushes is written in one
transaction (WAL mode), so a killed recorder loses at most its last batch and never corrupts the file.
`open_database` is the reading side: it opens a file read-only and refuses one that is not ours.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, NamedTuple

import sqlite_utils

from cardwatch.health_types import HealthChange
from cardwatch.model import CardSample
from cardwatch.store import TABLE, SampleStore

NODES: Final = "nodes"
CARDS: Final = "cards"
HEALTH_EVENTS: Final = "health_events"
EVENTS: Final = "events"
LOCK_WAIT_S: Final = 2.0
"""How long opening waits for another process's lock before saying the database is locked."""
WRITE_WAIT_S: Final = 30.0
"""How long a batch waits for the write lock once recording (other workers, a reader's checkpoint)."""
REQUIRED_SAMPLE_COLUMNS: Final = frozenset({"id", "key", "node", "index", "ts"})
CARD_COLUMNS: Final = ("key", "node", "index", "vendor", "source", "model", "uuid", "serial", "bus_id")

_CARD_UPSERT: Final = (
    f"INSERT INTO {CARDS} ({', '.join(f'[{c}]' for c in CARD_COLUMNS)}, first_ts) "
    f"VALUES ({', '.join('?' * (len(CARD_COLUMNS) + 1))}) ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"[{c}] = excluded.[{c}]" for c in CARD_COLUMNS[1:])
)
_NODE_UPSERT: Final = (
    f"INSERT INTO {NODES} (node, agent_url, version, groups, first_ts) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(node) DO UPDATE SET agent_url = excluded.agent_url, version = excluded.version, "
    "groups = excluded.groups"
)
_HEALTH_INSERT: Final = (
    f"INSERT INTO {HEALTH_EVENTS} (ts, key, node, code, kind, level, message, who) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_EVENT_INSERT: Final = f"INSERT INTO {EVENTS} (ts, kind, subject, code, message) VALUES (?, ?, ?, ?, ?)"
_STATEMENTS: Final = (_NODE_UPSERT, _CARD_UPSERT, _HEALTH_INSERT, _EVENT_INSERT)


class EventRow(NamedTuple):
    """One row of the events table."""

    ts: float
    kind: str  # agent, xid, error_codes, vendor_health
    subject: str  # card key ("node/index") or agent URL
    code: str | None
    message: str


class StoreError(Exception):
    """A database file that cannot be used (not SQLite, not cardwatch's, locked); the message says why."""


class RecordStore(SampleStore):
    """`SampleStore` plus the recorder's tables; each `flush` writes all of them in one transaction."""

    def __init__(self, path: Path | str) -> None:
        check_database(Path(path), must_exist=False)
        try:
            super().__init__(path)
            self.db.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_S * 1000)}")
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
            self.db.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT_S * 1000)}")
        except sqlite3.Error as exc:
            raise StoreError(describe_error(Path(path), exc)) from None
        except OSError as exc:
            raise StoreError(f"{path}: {exc.strerror or exc}") from None
        self._queued: dict[str, list[tuple[Any, ...]]] = {sql: [] for sql in _STATEMENTS}

    def _create(self) -> None:
        super()._create()
        identity: dict[str, Any] = {c: int if c == "index" else str for c in CARD_COLUMNS}
        self.db.table(CARDS).create({**identity, "first_ts": float}, pk="key", if_not_exists=True)
        self.db.table(NODES).create(
            {"node": str, "agent_url": str, "version": str, "groups": str, "first_ts": float},
            pk="node",
            if_not_exists=True,
        )
        health = {"id": int, "ts": float, "key": str, "node": str, "code": str, "kind": str}
        health.update({"level": str, "message": str, "who": str})
        self._create_log(HEALTH_EVENTS, health, "key")
        events = {"id": int, "ts": float, "kind": str, "subject": str, "code": str, "message": str}
        self._create_log(EVENTS, events, "subject")

    def _create_log(self, name: str, columns: dict[str, Any], subject: str) -> None:
        table = self.db.table(name)
        table.create(columns, pk="id", if_not_exists=True)
        table.create_index([subject, "ts"], if_not_exists=True)
        table.create_index(["ts"], if_not_exists=True)

    def add_health(self, changes: Iterable[HealthChange]) -> None:
        """Queue health changes (raised, cleared, acknowledged) for the next flush."""
        rows = [
            (c.ts, c.key, c.key.rpartition("/")[0], c.code, c.kind, c.level.name.lower(), c.message, c.who)
            for c in changes
        ]
        with self._lock:
            self._queued[_HEALTH_INSERT].extend(rows)

    def add_events(self, rows: Iterable[EventRow]) -> None:
        """Queue agent and vendor events (Xids, error codes, vendor health) for the next flush."""
        with self._lock:
            self._queued[_EVENT_INSERT].extend(rows)

    def add_card(self, sample: CardSample) -> None:
        """Queue a card's identity (new card or changed identity) for the next flush."""
        row = (*(getattr(sample, c) for c in CARD_COLUMNS[1:]), sample.ts)
        with self._lock:
            self._queued[_CARD_UPSERT].append((sample.key, *row))

    def add_node(
        self, node: str, agent_url: str, version: str | None, groups: dict[str, str], ts: float
    ) -> None:
        """Queue a node's agent, version and groups for the next flush."""
        with self._lock:
            self._queued[_NODE_UPSERT].append(
                (node, agent_url, version, json.dumps(groups) if groups else None, ts)
            )

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        super()._write(rows)
        queued, self._queued = self._queued, {sql: [] for sql in _STATEMENTS}
        for sql, values in queued.items():
            if values:
                self.db.conn.executemany(sql, values)


def check_database(path: Path, *, must_exist: bool = True) -> None:
    """Refuse a file that is not SQLite, a SQLite file with foreign tables, or a locked one."""
    if not path.exists() or path.stat().st_size == 0:
        if must_exist:
            raise StoreError(f"{path}: no such database")
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(describe_error(path, exc)) from None
    if (tables or must_exist) and not REQUIRED_SAMPLE_COLUMNS.issubset(columns):
        raise StoreError(f"{path}: not a cardwatch database (no {TABLE} table with key, node, index, ts)")


def open_database(path: Path) -> sqlite_utils.Database:
    """Open a cardwatch database read-only for export and report, after `check_database`."""
    check_database(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
    return sqlite_utils.Database(conn)


def describe_error(path: Path, exc: sqlite3.Error) -> str:
    """One line for a SQLite failure on `path`, in the user's terms."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{path}: not a SQLite database ({text})"
    if "locked" in text or "busy" in text:
        return f"{path}: database is locked by another process ({text})"
    return f"{path}: {text}"
