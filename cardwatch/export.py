"""CSV export of cards with their verdicts, for spreadsheets and tickets.

One row per card: time as ISO 8601 UTC, then every `CardSample` field under its own name (units are in
the names), then the verdict. Unknown is an empty cell, never 0; an empty throttle set is ``none``.
The file is written under a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cardwatch.health import CardHealth
from cardwatch.model import FIELD_KINDS, CardSample

SAMPLE_COLUMNS: Final = tuple(name for name in FIELD_KINDS if name != "ts")
HEALTH_COLUMNS: Final = ("level", "reasons", "effective_compute_pct", "compute_basis")
CSV_COLUMNS: Final = ("time_utc", "key", *SAMPLE_COLUMNS, *HEALTH_COLUMNS)

CardRow = tuple[CardSample, CardHealth | None]


def iso_utc(ts: float) -> str:
    """Unix seconds as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def csv_rows(rows: Iterable[CardRow]) -> Iterator[list[str]]:
    """The header row, then one row of cells per card."""
    yield list(CSV_COLUMNS)
    for sample, health in rows:
        cells = sample_cells(sample, SAMPLE_COLUMNS)
        cells.extend(_health_cells(health))
        yield cells


def sample_cells(sample: CardSample, columns: Iterable[str]) -> list[str]:
    """Time, key and the named fields of one sample as cells: shared by the ``e`` key and `cardwatch export`."""
    return [iso_utc(sample.ts), sample.key, *(_cell(getattr(sample, name)) for name in columns)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ";".join(sorted(value)) or "none"
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _health_cells(health: CardHealth | None) -> list[str]:
    if health is None:
        return ["", "", "", "not evaluated yet"]
    compute = health.effective_compute
    return [
        health.level.name.lower(),
        " | ".join(f"{r.code}: {r.message}" for r in health.reasons),
        "" if compute is None else f"{100 * compute:.1f}",
        health.compute_basis,
    ]


def write_csv(path: Path, rows: Iterable[CardRow]) -> Path:
    """Write the cards to `path` atomically (temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(csv_rows(rows))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def export_path(directory: Path, view: str, now: float) -> Path:
    """Where the TUI writes an export of `view`: a name that sorts by time and never overwrites."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    path = directory / f"cardwatch-{view}-{stamp}.csv"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"cardwatch-{view}-{stamp}-{n}.csv"
    return path
