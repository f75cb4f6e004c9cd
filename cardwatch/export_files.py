"""`cardwatch export` output: CSV, JSON lines (the wire form) or a standalone SQLite file, written atomically.

CSV cells come from `cardwatch.export.sample_cells`, the code the TUI's ``e`` key uses: a header row,
``time_utc`` in ISO 8601 UTC (to the millisecond), ``key``, then `CardSample` field names, which carry
their units (``temp_c``, ``power_w``). JSONL and SQLite keep the exact Unix seconds in ``ts``.
A file is written under a temporary name beside the target and renamed at the end, so a failed or
interrupted export never leaves a half-written file under the final name.
"""

from __future__ import annotations

import csv
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

from cardwatch.export import sample_cells
from cardwatch.export_source import ExportError
from cardwatch.model import FIELD_KINDS, CardSample
from cardwatch.record_store import RecordStore, StoreError
from cardwatch.store import TABLE
from cardwatch.wire import dumps, sample_to_wire

FORMATS: Final = ("csv", "jsonl", "sqlite")
IDENTITY: Final = (
    "node",
    "index",
    "vendor",
    "source",
    "model",
    "uuid",
    "serial",
    "bus_id",
    "state",
    "state_reason",
)
METRICS: Final = tuple(name for name in FIELD_KINDS if name not in IDENTITY and name != "ts")
"""The fields `--metrics` chooses from; identity and time are always exported."""
CHUNK_ROWS: Final = 10_000


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """The metrics a comma-separated list names (all of them for None); `ValueError` names unknown ones."""
    if text is None:
        return METRICS
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"unknown metric {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}"
        )
    return names


def csv_header(metrics: Sequence[str] = METRICS) -> list[str]:
    """The CSV columns: time, key, identity, then the metrics (units are in the names)."""
    return ["time_utc", "key", *IDENTITY, *metrics]


def write_csv(samples: Iterable[CardSample], out: TextIO, metrics: Sequence[str] = METRICS) -> int:
    """Stream samples to `out` as CSV with a header row; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(metrics))
    columns = (*IDENTITY, *metrics)
    count = 0
    for sample in samples:
        writer.writerow(sample_cells(sample, columns))
        count += 1
    return count


def write_jsonl(samples: Iterable[CardSample], out: TextIO, metrics: Sequence[str] = METRICS) -> int:
    """Stream samples to `out` as one wire-form JSON object per line; returns the number of lines."""
    dropped = set(METRICS) - set(metrics)
    count = 0
    for sample in samples:
        wire = sample_to_wire(sample)
        out.write(dumps({k: v for k, v in wire.items() if k not in dropped}) + "\n")
        count += 1
    return count


def write_sqlite(
    samples: Iterable[CardSample],
    path: Path,
    metrics: Sequence[str] = METRICS,
    tables: Iterable[tuple[str, Iterable[dict[str, Any]]]] = (),
) -> int:
    """Write a standalone cardwatch database (rollback journal, no WAL) with the samples and extra rows."""
    store = RecordStore(path)
    count = 0
    try:
        for chunk in _chunks(samples):
            store.add(chunk)
            count += store.flush()
        for name, rows in tables:
            for chunk in _chunks(rows):
                store.db.table(name).insert_all(chunk)
        dropped = [m for m in METRICS if m not in metrics]
        if dropped:
            store.db.table(TABLE).transform(drop=dropped)
        store.db.disable_wal()
    finally:
        store.close()
    return count


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
        yield chunk


def write_export(
    samples: Iterable[CardSample],
    out: Path | None,
    fmt: str,
    *,
    metrics: Sequence[str] = METRICS,
    force: bool = False,
    tables: Iterable[tuple[str, Iterable[dict[str, Any]]]] = (),
    stdout: TextIO | None = None,
) -> int:
    """Export samples to `out` (None: to `stdout`, text formats only); returns the number of samples."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    if out is None:
        if fmt == "sqlite" or stdout is None:
            raise ExportError("a SQLite export needs --out PATH")
        return _TEXT_WRITERS[fmt](samples, stdout, metrics)
    with _atomic(out, force) as partial:
        if fmt == "sqlite":
            return write_sqlite(samples, partial, metrics, tables)
        with partial.open("w", encoding="utf-8", newline="") as handle:
            return _TEXT_WRITERS[fmt](samples, handle, metrics)


_TEXT_WRITERS: Final[dict[str, Callable[[Iterable[CardSample], TextIO, Sequence[str]], int]]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
}


@contextmanager
def _atomic(target: Path, force: bool) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it on success and removed on any failure."""
    if target.exists() and not force:
        raise ExportError(f"{target} exists; pass --force to overwrite it")
    if target.is_dir():
        raise ExportError(f"{target} is a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"cannot write in {target.parent}: {exc.strerror or exc}") from None
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, target)
    except (OSError, sqlite3.Error, StoreError) as exc:
        raise ExportError(f"cannot write {target}: {exc}") from None
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), Path(f"{partial}-journal")):
            leftover.unlink(missing_ok=True)
