"""Where exports read samples from: a cardwatch database or an agent's /v1/history, one row at a time.

Both sources stream (a database cursor, or one history page at a time), so an export of any size runs in
constant memory. Both apply the same `Selection`; every failure is an `ExportError` with one line.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import sqlite_utils

from cardwatch.model import CardSample
from cardwatch.record_store import CARDS, EVENTS, HEALTH_EVENTS, NODES
from cardwatch.store import TABLE, row_to_sample
from cardwatch.wire import WireError, check_version, sample_from_wire

PAGE_ROWS: Final = 10_000
AGENT_TIMEOUT_S: Final = 10.0


class ExportError(Exception):
    """An export that cannot go on; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which samples to take: ``since_ts <= ts < until_ts``, nodes matching a glob, one card."""

    since_ts: float | None = None
    until_ts: float | None = None
    node_glob: str | None = None
    card: str | None = None  # card key "node/index", UUID, or index on every node

    def where(self) -> tuple[str | None, list[Any]]:
        """The SQL condition and arguments for the samples table."""
        return _joined(self.time_where(), self.card_where())

    def time_where(self) -> tuple[str | None, list[Any]]:
        """The time condition for any table with a ``ts`` column."""
        parts: list[tuple[str | None, list[Any]]] = []
        if self.since_ts is not None:
            parts.append(("ts >= ?", [self.since_ts]))
        if self.until_ts is not None:
            parts.append(("ts < ?", [self.until_ts]))
        return _joined(*parts)

    def card_where(self) -> tuple[str | None, list[Any]]:
        """The node and card condition for a table with key, node, index and uuid (samples, cards)."""
        parts: list[tuple[str | None, list[Any]]] = []
        if self.node_glob is not None:
            parts.append(("node GLOB ?", [self.node_glob]))
        if self.card is not None and self.card.isdigit():
            parts.append(("[index] = ?", [int(self.card)]))
        elif self.card is not None:
            parts.append(("([key] = ? OR uuid = ?)", [self.card, self.card]))
        return _joined(*parts)

    def matches(self, sample: CardSample) -> bool:
        """The same test as `where`, for samples that did not come from SQL."""
        if self.since_ts is not None and sample.ts < self.since_ts:
            return False
        if self.until_ts is not None and sample.ts >= self.until_ts:
            return False
        if self.node_glob is not None and not fnmatch.fnmatchcase(sample.node, self.node_glob):
            return False
        return self.card is None or self.card in (sample.key, sample.uuid, str(sample.index))


def _joined(*parts: tuple[str | None, list[Any]]) -> tuple[str | None, list[Any]]:
    clauses = [clause for clause, _ in parts if clause]
    return (" AND ".join(clauses) or None), [arg for _, args in parts for arg in args]


def count_samples(db: sqlite_utils.Database, selection: Selection) -> int:
    """How many samples the selection takes (for the progress bar)."""
    where, args = selection.where()
    sql = f"SELECT COUNT(*) FROM {TABLE}" + (f" WHERE {where}" if where else "")
    return int(db.execute(sql, args).fetchone()[0])


def db_samples(db: sqlite_utils.Database, selection: Selection) -> Iterator[CardSample]:
    """The selected samples in insertion order, read through one cursor."""
    where, args = selection.where()
    sql = f"SELECT * FROM {TABLE}" + (f" WHERE {where}" if where else "") + " ORDER BY id"
    cursor = db.execute(sql, args)
    columns = [d[0] for d in cursor.description]
    for values in cursor:
        yield row_to_sample(dict(zip(columns, values, strict=True)))


def agent_samples(url: str, selection: Selection, token: str | None = None) -> Iterator[CardSample]:
    """The selected samples of one agent's local history, page by page; the first page is fetched now,
    so an unreachable agent fails before anything is written."""
    params: dict[str, str] = {"limit": str(PAGE_ROWS)}
    if selection.since_ts is not None:
        params["since"] = repr(max(selection.since_ts, 0.0))
    if selection.until_ts is not None:
        params["until"] = repr(max(selection.until_ts, 0.0))
    if selection.card is not None and selection.card.isdigit():
        params["card"] = selection.card
    return _pages(url, params, _fetch(url, params, token), selection, token)


def _pages(
    url: str, params: dict[str, str], page: dict[str, Any], selection: Selection, token: str | None
) -> Iterator[CardSample]:
    while True:
        yield from (s for s in _page_samples(page, url) if selection.matches(s))
        if page.get("next") is None:
            return
        page = _fetch(url, {**params, "after": str(page["next"])}, token)


def _fetch(url: str, params: dict[str, str], token: str | None) -> dict[str, Any]:
    full_url = f"{url}/v1/history?{urllib.parse.urlencode(params)}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(full_url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=AGENT_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise ExportError(f"agent {url} answered HTTP {exc.code}: {_error_text(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExportError(
            f"cannot reach agent {url}: {getattr(reason, 'strerror', None) or reason}"
        ) from None
    try:
        page = json.loads(body)
    except ValueError:
        raise ExportError(
            f"agent {url} sent a history page that is not JSON (is this a cardwatch agent?)"
        ) from None
    if not isinstance(page, dict):
        raise ExportError(f"agent {url} sent a history page that is not an object")
    return page


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(exc.reason)


def _page_samples(page: dict[str, Any], url: str) -> list[CardSample]:
    try:
        check_version(page.get("v"))
        samples = page.get("samples")
        if not isinstance(samples, list):
            raise WireError("'samples' must be a list")
        if page.get("next") is not None and not isinstance(page["next"], int):
            raise WireError("'next' must be an integer")
        return [sample_from_wire(s) for s in samples]
    except WireError as exc:
        raise ExportError(f"agent {url} sent a bad history page: {exc}") from None


def related_rows(
    db: sqlite_utils.Database, selection: Selection
) -> list[tuple[str, Iterator[dict[str, Any]]]]:
    """The nodes, cards, health events and events that belong with the selected samples (for SQLite exports)."""
    names = set(db.table_names())
    card_where, card_args = selection.card_where()
    keys = f"SELECT key FROM {CARDS}" + (f" WHERE {card_where}" if card_where else "")
    nodes = f"SELECT node FROM {CARDS}" + (f" WHERE {card_where}" if card_where else "")
    time_where, time_args = selection.time_where()
    time_and = f"{time_where} AND " if time_where else ""
    wanted = {
        CARDS: (card_where, card_args),
        NODES: (f"node IN ({nodes})", card_args),
        HEALTH_EVENTS: (f"{time_and}key IN ({keys})", [*time_args, *card_args]),
        EVENTS: (
            f"{time_and}(subject IN ({keys}) OR subject IN (SELECT agent_url FROM {NODES} WHERE node IN ({nodes})))",
            [*time_args, *card_args, *card_args],
        ),
    }
    if CARDS not in names:
        return []
    return [
        (name, db.table(name).rows_where(where, args))
        for name, (where, args) in wanted.items()
        if name in names
    ]
