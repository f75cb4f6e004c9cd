"""`cardwatch report`: time per level and top reasons, replayed from recorded health events."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cardwatch.cli import cli
from cardwatch.health_types import HealthChange, Level
from cardwatch.record_store import RecordStore
from cardwatch.report import Change, replay

from .conftest import T0, varied_samples


def test_level_is_the_worst_active_reason() -> None:
    changes = [
        Change(T0 + 10, "POWER_CAP", "raised", Level.WATCH),
        Change(T0 + 20, "HW_SLOWDOWN", "raised", Level.DEGRADED),
        Change(T0 + 50, "HW_SLOWDOWN", "cleared", Level.DEGRADED),
        Change(T0 + 70, "POWER_CAP", "cleared", Level.WATCH),
    ]
    report = replay("n/0", changes, T0, T0 + 100)
    assert report.observed_s == 100
    assert report.level_s[Level.OK] == 40
    assert report.level_s[Level.WATCH] == 30
    assert report.level_s[Level.DEGRADED] == 30
    assert [(r.code, r.seconds, r.raised) for r in report.reasons] == [
        ("POWER_CAP", 60, 1),
        ("HW_SLOWDOWN", 30, 1),
    ]


def test_a_reason_raised_before_the_range_counts_from_its_start() -> None:
    changes = [Change(T0 - 500, "ECC_UNCORRECTED", "raised", Level.FAILED)]
    report = replay("n/0", changes, T0, T0 + 60)
    assert report.level_s[Level.FAILED] == 60
    assert report.reasons[0].raised == 0


@given(
    st.lists(
        st.tuples(
            st.floats(0, 200),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["raised", "cleared"]),
            st.sampled_from(list(Level)),
        ),
        max_size=30,
    )
)
def test_level_times_always_add_up_to_the_observed_span(events: list[tuple[float, str, str, Level]]) -> None:
    changes = sorted(Change(T0 + t, code, kind, level) for t, code, kind, level in events)
    report = replay("n/0", changes, T0 + 50, T0 + 150)
    assert sum(report.level_s.values()) == pytest.approx(100)
    assert all(r.seconds <= 100 + 1e-9 for r in report.reasons)


@pytest.fixture
def throttled_night(tmp_path: Path) -> Path:
    """Two cards sampled for 100 s; card 1 throttled from 20 s to 80 s."""
    base = varied_samples(ticks=1)[0]
    store = RecordStore(tmp_path / "fleet.db")
    store.add(replace(base, index=i, ts=T0 + t) for t in range(0, 101, 10) for i in (0, 1))
    for i in (0, 1):
        store.add_card(replace(base, index=i))
    store.add_health(
        [
            HealthChange(f"{base.node}/1", "HW_SLOWDOWN", "raised", T0 + 20, Level.DEGRADED, "hw slowdown"),
            HealthChange(f"{base.node}/1", "HW_SLOWDOWN", "cleared", T0 + 80, Level.DEGRADED, "hw slowdown"),
        ]
    )
    store.close()
    return tmp_path / "fleet.db"


def test_report_answers_which_cards_throttled_and_for_how_long(throttled_night: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--db", str(throttled_night), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["card"].rsplit("/", 1)[1] for r in rows] == ["1", "0"]
    assert rows[0]["degraded_s"] == "60.0" and rows[0]["ok_s"] == "40.0" and rows[0]["observed_s"] == "100.0"
    assert rows[0]["top_reasons"] == "HW_SLOWDOWN 60s x1"
    assert rows[1]["ok_s"] == "100.0" and rows[1]["top_reasons"] == ""


def test_report_range_clips_the_time(throttled_night: Path) -> None:
    since = "2027-01-15T08:00:50Z"
    result = CliRunner().invoke(
        cli, ["report", "--db", str(throttled_night), "--since", since, "--format", "csv"]
    )
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["degraded_s"] == "30.0" and rows[0]["top_reasons"] == "HW_SLOWDOWN 30s x0"


def test_report_table_shows_durations(throttled_night: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--db", str(throttled_night)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["CARD", "OBSERVED", "OK"]
    assert "1m00s" in lines[1] and "HW_SLOWDOWN 1m00s x1" in lines[1]


def test_a_range_with_no_samples_says_so(throttled_night: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--db", str(throttled_night), "--since", "2030-01-01"])
    assert result.exit_code == 0 and result.output == "no cards were observed in this range\n"
