"""One snapshot per screen: seeded simulated fleet, frozen clock, no blinking cursor.

Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs before committing.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cardwatch.tui.app import make_app

BIG = (200, 60)
SMALL = (160, 45)


async def _type_filter(pilot: Pilot[None]) -> None:
    await pilot.press("slash")
    box = pilot.app.screen.query_one("#filter", Input)
    box.cursor_blink = False
    box.value = "gpu00* level:watch"


def test_overview(snap_compare, feed) -> None:
    """Overview: header, heat map coloured by health, worst-first list of the seven broken cards."""
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), terminal_size=BIG)


def test_overview_by_temperature(snap_compare, feed) -> None:
    """Overview with the heat map cycled (m) to temperature: the thermal card stands out."""
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), press=["m"], terminal_size=BIG)


def test_overview_without_colour(snap_compare, feed, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: the heat map shows glyphs and every level keeps its mark."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), terminal_size=BIG)


def test_overview_on_a_light_terminal(snap_compare, feed) -> None:
    """The light theme: level marks and heat-map colours stay readable on a white background."""

    async def light(pilot: Pilot[None]) -> None:
        pilot.app.theme = "textual-light"

    assert snap_compare(make_app(feed.fleet, clock=feed.clock), run_before=light, terminal_size=BIG)


def test_filter_line(snap_compare, feed) -> None:
    """The filter line opened with / and a filter typed, before enter."""
    app = make_app(feed.fleet, clock=feed.clock)
    assert snap_compare(app, run_before=_type_filter, terminal_size=SMALL)


def test_node_screen(snap_compare, feed) -> None:
    """Node gpu001: every card with temps, power, clocks, throttle, ECC, link and reasons."""
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), press=["down", "enter"], terminal_size=SMALL)


def test_card_screen(snap_compare, feed) -> None:
    """Card gpu001/2 (thermal): reasons, plots against their thresholds, and its event log."""
    keys = ["down", "enter", "down", "down", "enter"]
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), press=keys, terminal_size=SMALL)


def test_events_screen(snap_compare, sim_feed) -> None:
    """The fleet's event log, newest first: reasons raised, an Xid, an agent gone stale."""
    feed = sim_feed(["gpu000", "gpu001"], scenarios={"gpu001": {2: "lost"}}).run(6)
    feed.tick(skip=["gpu000"])
    feed.now += 5
    feed.fleet.check_staleness(feed.now)
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), press=["l"], terminal_size=SMALL)


def test_help_screen(snap_compare, feed) -> None:
    """The ? screen over the overview: every key and the filter syntax."""
    assert snap_compare(make_app(feed.fleet, clock=feed.clock), press=["question_mark"], terminal_size=SMALL)
