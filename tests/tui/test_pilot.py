"""The TUI driven by keys and clicks over a simulated fleet model: drill-down, filter, metric, sort, export."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from textual.widgets import Input

from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.heat import DOWN_SLOT, UNKNOWN_SLOT, Metric, slot
from cardwatch.tui.app import make_app
from cardwatch.tui.screens.card import CardScreen
from cardwatch.tui.screens.events import EventsScreen
from cardwatch.tui.screens.fleet import FleetScreen
from cardwatch.tui.screens.help import HelpScreen
from cardwatch.tui.screens.node import NodeScreen
from cardwatch.tui.widgets.card_table import CardTable
from cardwatch.tui.widgets.event_table import EventTable
from cardwatch.tui.widgets.fleet_bar import FleetBar
from cardwatch.tui.widgets.heat_map import HeatMap
from cardwatch.tui.widgets.node_table import NodeTable

SIZE = (200, 60)


def _row_keys(table) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


async def test_overview_lists_every_broken_card_worst_first(feed, tmp_path: Path) -> None:
    app = make_app(feed.fleet, clock=feed.clock, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        keys = _row_keys(app.screen.query_one(CardTable))
        assert set(keys) == {f"{n}/{i}" for n, cards in feed.scenarios.items() for i in cards}
        levels = [feed.fleet.health(key).level for key in keys]
        assert levels == sorted(levels, reverse=True) and keys[0] == "gpu003/0"
        heat = app.screen.query_one(HeatMap)
        assert [n.name for n in heat._heat_nodes] == [f"gpu{i:03d}" for i in range(12)]
        assert heat._heat_nodes[3].slots[0] == DOWN_SLOT


async def test_drill_down_fleet_node_card_and_back(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "enter")
        assert isinstance(app.screen, NodeScreen) and app.screen.node == "gpu001"
        assert _row_keys(app.screen.query_one(NodeTable)) == [str(i) for i in range(8)]
        await pilot.press("down", "down", "enter")
        assert isinstance(app.screen, CardScreen) and app.screen.key == "gpu001/2"
        events = app.screen.query_one(EventTable)
        assert events.row_count == len(feed.fleet.events.newest("gpu001/2")) > 0
        await pilot.press("escape")
        assert isinstance(app.screen, NodeScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_enter_on_the_list_opens_the_worst_card(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one(CardTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, CardScreen) and app.screen.key == "gpu003/0"


async def test_click_on_a_heat_map_row_opens_that_node(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        heat = app.screen.query_one(HeatMap)
        plan = heat._current_plan(heat.size.width)
        line = next(y for y, row in enumerate(plan.rows) if not isinstance(row, str) and row[0] == "gpu004")
        x = heat.content_region.x + plan.label_w + 2
        y = heat.content_region.y + line
        await pilot.click(offset=(x, y))
        assert isinstance(app.screen, NodeScreen) and app.screen.node == "gpu004"


async def test_filter_narrows_heat_map_and_list(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        assert box.has_focus
        box.value = "gpu00[0-4] level:degraded"
        await pilot.press("enter")
        await pilot.pause()
        assert set(_row_keys(app.screen.query_one(CardTable))) == {
            "gpu003/0",
            "gpu001/2",
            "gpu001/5",
            "gpu004/7",
        }
        assert [n.name for n in app.screen.query_one(HeatMap)._heat_nodes] == ["gpu001", "gpu003", "gpu004"]
        await pilot.press("escape")
        assert len(app.screen.query_one(HeatMap)._heat_nodes) == 12


async def test_a_bad_filter_is_refused_with_the_reason(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "colour:red"
        await pilot.press("enter")
        assert any("unknown field 'colour'" in n.message for n in app._notifications)
        assert app.screen.card_filter.text == "" and app.screen.query_one("#filter").has_class("-open")


async def test_m_cycles_the_heat_map_metric(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        heat = app.screen.query_one(HeatMap)
        await pilot.press("m")
        assert heat.metric is Metric.TEMP
        hot = feed.fleet.card("gpu001/2")
        assert heat._heat_nodes[1].slots[2] == slot(Metric.TEMP, hot.sample, None) == 4
        for _ in range(len(Metric) - 1):
            await pilot.press("m")
        assert heat.metric is Metric.HEALTH


async def test_s_sorts_the_list_by_compute(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        keys = _row_keys(app.screen.query_one(CardTable))
        compute = [feed.fleet.health(key).effective_compute for key in keys]
        assert compute == sorted(compute) and len(keys) == 7


async def test_pause_freezes_the_screen_while_data_keeps_arriving(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.screen.query_one(FleetBar)
        await pilot.press("p")
        before = str(bar.render())
        feed.tick()
        app.tick()
        await pilot.pause()
        assert str(bar.render()) == before and "PAUSED" in before
        await pilot.press("p")
        assert str(bar.render()) != before and "PAUSED" not in str(bar.render())


async def test_e_exports_the_current_view(feed, tmp_path: Path) -> None:
    app = make_app(feed.fleet, clock=feed.clock, export_dir=tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("e")
        await pilot.press("enter", "e")
        files = sorted(tmp_path.glob("*.csv"))
        assert [f.name.split("-")[1] for f in files] == ["fleet", "node"]
        rows = {f.name.split("-")[1]: list(csv.DictReader(f.open())) for f in files}
        assert len(rows["fleet"]) == 96 and {r["node"] for r in rows["node"]} == {"gpu000"}
        assert any(str(files[0]) in n.message for n in app._notifications)


async def test_help_lists_the_keys_and_closes(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        described = dict((what, key) for key, what in app.screen.keys)
        assert {"Filter", "Metric", "Sort", "Pause", "Export CSV", "Quit", "Events"} <= described.keys()
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_events_screen_is_newest_first(feed) -> None:
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, EventsScreen)
        table = app.screen.query_one(EventTable)
        assert table.row_count == len(feed.fleet.events) > 0
        newest = feed.fleet.events.newest(limit=1)[0]
        assert table.get_row_at(0)[-1].plain == newest.message
        feed.tick(skip=["gpu000"])
        feed.now += 10
        feed.fleet.check_staleness(feed.now)
        app.tick()
        await pilot.pause()
        assert "stale" in table.get_row_at(0)[-1].plain


@pytest.mark.parametrize(
    ("status", "cell"),
    [
        (AgentStatus.CONNECTING, UNKNOWN_SLOT),
        (AgentStatus.DOWN, DOWN_SLOT),
        (AgentStatus.UNAUTHORIZED, DOWN_SLOT),
        (AgentStatus.VERSION_MISMATCH, DOWN_SLOT),
    ],
)
async def test_every_agent_state_is_visible(sim_feed, status: AgentStatus, cell: int) -> None:
    feed = sim_feed(["gpu000"])
    feed.fleet = Fleet([*feed.specs, AgentSpec("http://gpu099:9464")], engine=HealthEngine(), now=feed.now)
    feed.tick()
    if status is not AgentStatus.CONNECTING:
        feed.fleet.set_agent_state("http://gpu099:9464", status, "the reason", feed.now)
    app = make_app(feed.fleet, clock=feed.clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        heat = {n.name: n.slots for n in app.screen.query_one(HeatMap)._heat_nodes}
        assert heat["gpu099:9464"] == (cell,)
        bar = str(app.screen.query_one(FleetBar).render())
        assert f"agents 1 {status.value}" in bar and "nodes 1/2 live" in bar
