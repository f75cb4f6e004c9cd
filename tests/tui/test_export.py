"""The CSV export: header, units in names, ISO UTC times, unknown as empty, and no half-written file."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from cardwatch.collectors.sim import SimCollector
from cardwatch.export import CSV_COLUMNS, export_path, write_csv
from cardwatch.health import HealthEngine


def _rows() -> list:
    sim = SimCollector(node="gpu001", cards=3, scenarios={1: "power_cap"}, clock=lambda: 1_790_000_000.25)
    engine = HealthEngine()
    for _ in range(5):
        samples = sim.read()
        engine.observe(samples, samples[0].ts)
    return [(s, engine.health(s.key)) for s in samples]


def test_csv_has_a_header_and_one_row_per_card(tmp_path: Path) -> None:
    rows = _rows()
    path = write_csv(tmp_path / "cards.csv", rows)
    with path.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(CSV_COLUMNS)
    assert [r["key"] for r in table] == ["gpu001/0", "gpu001/1", "gpu001/2"]
    assert table[0]["time_utc"] == "2026-09-21T14:13:20.250+00:00"
    assert table[1]["power_limit_w"] == "450.0" and "sw_power_cap" in table[1]["throttle"]
    assert table[0]["throttle"] == "none" and table[0]["level"] == "ok"
    assert table[1]["level"] == "degraded" and "POWER_CAP" in table[1]["reasons"]


def test_unknown_is_an_empty_cell_never_zero(tmp_path: Path) -> None:
    sample = _rows()[0][0]
    path = write_csv(tmp_path / "cards.csv", [(replace(sample, temp_c=None, throttle=None), None)])
    with path.open(newline="") as f:
        row = next(csv.DictReader(f))
    assert row["temp_c"] == "" and row["throttle"] == "" and row["level"] == ""
    assert row["compute_basis"] == "not evaluated yet"


def test_a_failed_write_leaves_no_file_under_either_name(tmp_path: Path) -> None:
    def rows():
        yield _rows()[0]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_csv(tmp_path / "cards.csv", rows())
    assert list(tmp_path.iterdir()) == []


def test_export_paths_sort_by_time_and_never_overwrite(tmp_path: Path) -> None:
    first = export_path(tmp_path, "fleet", 1_790_000_000.0)
    assert first.name == "cardwatch-fleet-20260921T141320Z.csv"
    first.write_text("x")
    assert export_path(tmp_path, "fleet", 1_790_000_000.0).name == "cardwatch-fleet-20260921T141320Z-2.csv"
