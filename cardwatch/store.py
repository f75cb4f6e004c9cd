"""Local sample history in SQLite (sqlite-utils), shared by the node agent and the fleet recorder.

Schema (one table, generic so any recorder can reuse it):

- ``samples``: one row per `CardSample`. ``id`` INTEGER PRIMARY KEY (insertion order, the page cursor),
  ``key`` TEXT (`card_key`: ``node/index``), then one column per `CardSample` field, named as the field.
  Scalars keep their type (bools as 0/1, ``state`` as its string); ``throttle``, ``xids``,
  ``error_codes`` and ``field_errors`` are JSON text. NULL means unknown, as `None` does in the model.
- Indexes: ``(key, ts)`` for one card's history, ``(ts)`` for time ranges and retention.

The database runs in WAL mode and rows are written in batches (one transaction per `flush`), so a crash
loses at most the rows not yet flushed and never leaves a corrupt file.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlite_utils

from cardwatch.model import FIELD_KINDS, CardSample, CardState

TABLE: Final = "samples"
MAX_PAGE_ROWS: Final = 10_000
PAGE_BYTES: Final = 16384
"""SQLite page size of new files: rows are wide (one column per field), and bigger pages insert ~10% faster."""
_COLUMN_TYPES: Final = {"str": str, "int": int, "float": float, "bool": int, "state": str}


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of history; pass `next_after` back as ``after`` to read the next one (None: no more)."""

    samples: list[CardSample]
    next_after: int | None


class SampleStore:
    """Append-only sample history with retention by age: ``SampleStore(path)``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        conn = sqlite3.connect(self.path, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute(f"PRAGMA page_size = {PAGE_BYTES}")
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._create()

    def _create(self) -> None:
        columns: dict[str, Any] = {"id": int, "key": str}
        columns.update({name: _COLUMN_TYPES.get(kind, str) for name, kind in FIELD_KINDS.items()})
        table = self.db.table(TABLE)
        table.create(columns, pk="id", if_not_exists=True)
        for name, column_type in columns.items():
            if name not in table.columns_dict:
                table.add_column(name, column_type)
        table.create_index(["key", "ts"], if_not_exists=True)
        table.create_index(["ts"], if_not_exists=True)

    def add(self, samples: Iterable[CardSample]) -> None:
        """Queue samples for the next `flush` (cheap: no I/O)."""
        rows = [sample_to_values(s) for s in samples]
        with self._lock:
            self._pending.extend(rows)

    @property
    def pending(self) -> int:
        """Rows queued but not yet written."""
        return len(self._pending)

    def flush(self) -> int:
        """Write the queued rows in one transaction; returns how many were written."""
        with self._lock:
            rows, self._pending = self._pending, []
            with self.db.conn:
                self._write(rows)
        return len(rows)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert one batch inside the flush transaction (a subclass adds its own tables here)."""
        if rows:
            self.db.conn.executemany(_INSERT, rows)

    def prune(self, before_ts: float) -> int:
        """Delete rows older than `before_ts`; returns how many went."""
        with self._lock, self.db.conn:
            cursor = self.db.execute(f"DELETE FROM {TABLE} WHERE ts < ?", [before_ts])
        return cursor.rowcount

    def query(
        self,
        *,
        since_ts: float | None = None,
        until_ts: float | None = None,
        key: str | None = None,
        after: int | None = None,
        limit: int = 1000,
    ) -> HistoryPage:
        """Samples in insertion order with ``since_ts <= ts < until_ts``, optionally for one card key."""
        clauses, args = [], []
        for clause, value in (
            ("ts >= ?", since_ts),
            ("ts < ?", until_ts),
            ("key = ?", key),
            ("id > ?", after),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        limit = max(1, min(limit, MAX_PAGE_ROWS))
        with self._lock:
            rows = list(
                self.db.table(TABLE).rows_where(
                    " AND ".join(clauses) or None, args, order_by="id", limit=limit + 1
                )
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return HistoryPage([row_to_sample(r) for r in rows], rows[-1]["id"] if more else None)

    def close(self) -> None:
        """Flush what is queued and close the database."""
        self.flush()
        with self._lock:
            self.db.close()


def sample_to_row(sample: CardSample) -> dict[str, Any]:
    """One sample as a table row (see the module docstring for the column encoding)."""
    return dict(zip(SAMPLE_COLUMNS, sample_to_values(sample), strict=True))


def sample_to_values(sample: CardSample) -> tuple[Any, ...]:
    """One sample as row values in `SAMPLE_COLUMNS` order: the fast path for batch inserts."""
    values = list(_FIELD_VALUES(sample))
    for i in _JSON_COLUMNS:
        values[i] = json.dumps(values[i]) if values[i] else None
    for i, encode in _CONVERTED:
        if values[i] is not None:
            values[i] = encode(values[i])
    return (sample.key, *values)


def row_to_sample(row: dict[str, Any]) -> CardSample:
    """Rebuild the sample a row was made from."""
    values = {name: _DECODERS.get(kind, _plain)(row.get(name)) for name, kind in FIELD_KINDS.items()}
    return CardSample(**{k: v for k, v in values.items() if v is not None})


def _plain(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=4096)
def _set_json(value: frozenset[str]) -> str:
    """Throttle sets repeat across cards and ticks, so their JSON is cached."""
    return json.dumps(sorted(value))


_ENCODERS: Final = {"state": lambda v: v.value, "strset": _set_json}
"""Kinds stored other than as they are; bools bind as 0/1 and tuples and dicts go in as JSON (NULL if empty)."""
_JSON_KINDS: Final = ("ints", "strs", "strmap")
_DECODERS: Final = {
    "bool": lambda v: None if v is None else bool(v),
    "state": lambda v: CardState(v),
    "strset": lambda v: None if v is None else frozenset(json.loads(v)),
    "ints": lambda v: tuple(json.loads(v)) if v else None,
    "strs": lambda v: tuple(json.loads(v)) if v else None,
    "strmap": lambda v: json.loads(v) if v else None,
}

SAMPLE_COLUMNS: Final = ("key", *FIELD_KINDS)
"""The samples table's columns after ``id``, in insert order."""
_INSERT: Final = (
    f"INSERT INTO {TABLE} ({', '.join(f'[{c}]' for c in SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))})"
)
_FIELD_VALUES: Final = operator.attrgetter(*FIELD_KINDS)
_CONVERTED: Final = tuple(
    (i, _ENCODERS[kind]) for i, kind in enumerate(FIELD_KINDS.values()) if kind in _ENCODERS
)
_JSON_COLUMNS: Final = tuple(i for i, kind in enumerate(FIELD_KINDS.values()) if kind in _JSON_KINDS)
