"""Per-card time in each health level and the costliest reasons, replayed from recorded health events.

A card's level at any moment is the worst level among its active reasons (raised and not yet cleared),
or OK when none is active. Its time is counted from its first to its last sample within the range;
reasons raised before the range still count from the range's start.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TextIO

import sqlite_utils

from cardwatch.health_types import Level
from cardwatch.record_store import CARDS, HEALTH_EVENTS, StoreError
from cardwatch.store import TABLE

TOP_REASONS: Final = 3
LEVELS: Final = tuple(Level)


class Change(NamedTuple):
    """One recorded health change of one card."""

    ts: float
    code: str
    kind: str
    level: Level


@dataclass(frozen=True, slots=True)
class ReasonTime:
    """How long a reason was active within the range, and how often it was raised there."""

    code: str
    seconds: float
    raised: int


@dataclass(frozen=True, slots=True)
class CardReport:
    """One card's time in each level over the span it was observed."""

    key: str
    observed_s: float
    level_s: dict[Level, float] = field(default_factory=dict)
    reasons: tuple[ReasonTime, ...] = ()


def replay(key: str, changes: Iterable[Change], start: float, end: float) -> CardReport:
    """Integrate the level and each reason's active time over ``[start, end]``."""
    active: dict[str, Level] = {}
    level_s = dict.fromkeys(LEVELS, 0.0)
    reason_s: dict[str, float] = {}
    raised: dict[str, int] = {}
    clock = start
    for change in itertools.chain(changes, [Change(end, "", "end", Level.OK)]):
        now = min(max(change.ts, start), end)
        _advance(active, level_s, reason_s, now - clock)
        clock = now
        if change.kind == "raised":
            active[change.code] = change.level
            if start <= change.ts < end:
                raised[change.code] = raised.get(change.code, 0) + 1
        elif change.kind == "cleared":
            active.pop(change.code, None)
    top = sorted(reason_s.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    reasons = tuple(ReasonTime(code, seconds, raised.get(code, 0)) for code, seconds in top if seconds > 0)
    return CardReport(key, end - start, level_s, reasons)


def _advance(
    active: dict[str, Level], level_s: dict[Level, float], reason_s: dict[str, float], dt: float
) -> None:
    if dt <= 0:
        return
    level_s[max(active.values(), default=Level.OK)] += dt
    for code in active:
        reason_s[code] = reason_s.get(code, 0.0) + dt


def card_reports(
    db: sqlite_utils.Database, since_ts: float | None, until_ts: float | None
) -> list[CardReport]:
    """A report per card observed in the range, worst first."""
    if not {CARDS, HEALTH_EVENTS} <= set(db.table_names()):
        raise StoreError("no health events in this database (it was not written by `cardwatch record`)")
    spans = _spans(db, since_ts, until_ts)
    reports = []
    for key, changes in _changes(db, until_ts):
        if key in spans:
            reports.append(replay(key, changes, *spans.pop(key)))
    reports.extend(replay(key, [], start, end) for key, (start, end) in spans.items())
    return sorted(reports, key=_worst_first)


def _spans(
    db: sqlite_utils.Database, since_ts: float | None, until_ts: float | None
) -> dict[str, tuple[float, float]]:
    """Each card's first and last sample time in the range, found through the (key, ts) index."""
    spans = {}
    low = -1e300 if since_ts is None else since_ts
    high = 1e300 if until_ts is None else until_ts
    for (key,) in db.execute(f"SELECT key FROM {CARDS}"):
        first, last = db.execute(
            f"SELECT MIN(ts), MAX(ts) FROM {TABLE} WHERE key = ? AND ts >= ? AND ts < ?", [key, low, high]
        ).fetchone()
        if first is not None:
            spans[key] = (first, last)
    return spans


def _changes(db: sqlite_utils.Database, until_ts: float | None) -> Iterator[tuple[str, Iterator[Change]]]:
    """Health changes grouped by card, oldest first, streamed through one cursor."""
    cursor = db.execute(
        f"SELECT key, ts, code, kind, level FROM {HEALTH_EVENTS} WHERE ts < ? ORDER BY key, ts, id",
        [1e300 if until_ts is None else until_ts],
    )
    rows = ((key, Change(ts, code, kind, _level(level))) for key, ts, code, kind, level in cursor)
    for key, group in itertools.groupby(rows, key=lambda row: row[0]):
        yield key, (change for _, change in group)


def _level(name: str | None) -> Level:
    try:
        return Level[(name or "").upper()]
    except KeyError:
        raise StoreError(f"health event with unknown level {name!r}") from None


def _worst_first(report: CardReport) -> tuple[float | str, ...]:
    bad = (Level.FAILED, Level.DEGRADED, Level.WATCH, Level.UNKNOWN)
    return (*(-report.level_s[level] for level in bad), report.key)


def duration(seconds: float) -> str:
    """A short human duration: 45s, 12m05s, 3h02m, 2d04h."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _reasons_text(report: CardReport, fmt: str) -> str:
    if fmt == "csv":
        return "; ".join(f"{r.code} {r.seconds:.0f}s x{r.raised}" for r in report.reasons)
    return ", ".join(f"{r.code} {duration(r.seconds)} x{r.raised}" for r in report.reasons)


def write_csv(reports: Iterable[CardReport], out: TextIO) -> None:
    """The report as CSV: durations in seconds, units in the column names."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["card", "observed_s", *(f"{level.name.lower()}_s" for level in LEVELS), "top_reasons"])
    for r in reports:
        cells = [f"{r.level_s.get(level, 0.0):.1f}" for level in LEVELS]
        writer.writerow([r.key, f"{r.observed_s:.1f}", *cells, _reasons_text(r, "csv")])


def write_table(reports: Iterable[CardReport], out: TextIO) -> None:
    """The report as an aligned table for the terminal."""
    header = ["CARD", "OBSERVED", *(level.name for level in LEVELS), "TOP REASONS"]
    rows = [
        [
            r.key,
            duration(r.observed_s),
            *(_level_cell(r, level) for level in LEVELS),
            _reasons_text(r, "table"),
        ]
        for r in reports
    ]
    if not rows:
        out.write("no cards were observed in this range\n")
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] + "\n"
        )


def _level_cell(report: CardReport, level: Level) -> str:
    seconds = report.level_s.get(level, 0.0)
    return duration(seconds) if seconds > 0 else "-"
