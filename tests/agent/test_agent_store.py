"""The SQLite sample store: exact round trip, pagination, retention, WAL and indexes."""

from __future__ import annotations

from pathlib import Path

from agent_helpers import card

from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.model import CardState
from cardwatch.store import SampleStore


def test_every_field_round_trips(tmp_path: Path) -> None:
    sim = SimCollector(node="n1", cards=len(SCENARIOS), scenarios=dict(enumerate(SCENARIOS)))
    samples = [s for _ in range(5) for s in sim.read()]
    odd = card(
        99,
        throttle=frozenset(),
        xids=(79, 48),
        error_codes=("0x80E18402",),
        field_errors={"power_w": "not supported"},
        state=CardState.ERROR,
        state_reason="read failed",
        remap_pending=True,
    )
    store = SampleStore(tmp_path / "h.db")
    store.add([*samples, odd])
    assert store.flush() == len(samples) + 1
    assert store.query(limit=10_000).samples == [*samples, odd]


def test_pages_cover_every_row_once_in_order(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "h.db")
    store.add(card(i % 3, ts=1000.0 + i) for i in range(20))
    store.flush()
    rows, after = [], None
    while True:
        page = store.query(limit=7, after=after)
        rows.extend(page.samples)
        if page.next_after is None:
            break
        after = page.next_after
    assert [s.ts for s in rows] == [1000.0 + i for i in range(20)]
    one = store.query(key="n1/1", since_ts=1005.0, until_ts=1014.0).samples
    assert [s.ts for s in one] == [1007.0, 1010.0, 1013.0]


def test_retention_prunes_by_age(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "h.db")
    store.add(card(0, ts=1000.0 + i) for i in range(10))
    store.flush()
    assert store.prune(1004.0) == 4
    assert [s.ts for s in store.query().samples] == [1000.0 + i for i in range(4, 10)]


def test_unflushed_rows_are_not_written_and_file_is_wal(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "h.db")
    store.add([card(0)])
    assert store.pending == 1 and store.query().samples == []
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {tuple(ix.columns) for ix in store.db.table("samples").indexes}
    assert {("key", "ts"), ("ts",)} <= indexes
    store.close()
    assert [s.index for s in SampleStore(tmp_path / "h.db").query().samples] == [0]
