"""The headless parts of the overview: the filter, the sort orders, and the heat-map slots."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cardwatch.collectors.sim import SimCollector
from cardwatch.health import Level
from cardwatch.heat import DOWN_SLOT, EMPTY_SLOT, UNKNOWN_SLOT, Metric, heat_groups, slot
from cardwatch.model import CardState
from cardwatch.view import CardFilter, FilterError, SortKey, flagged, ordered


def test_filter_terms_all_must_hold(feed) -> None:
    fleet = feed.fleet
    rows = fleet.ranked()
    keep = CardFilter.parse("gpu00[0-4] level:degraded")
    kept = {r.card.key for r in rows if keep.matches(*r)}
    expected = {
        r.card.key
        for r in rows
        if r.card.sample.node <= "gpu004" and r.health is not None and r.health.level >= Level.DEGRADED
    }
    assert kept == expected and kept


def test_filter_reason_vendor_model_are_case_insensitive_substrings(feed) -> None:
    rows = feed.fleet.ranked()
    by_reason = {r.card.key for r in rows if CardFilter.parse("reason:PCIE").matches(*r)}
    assert by_reason == {"gpu007/4"}
    assert all(CardFilter.parse("vendor:NVIDIA model:h100").matches(*r) for r in rows)
    assert not any(CardFilter.parse("vendor:huawei").matches(*r) for r in rows)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("colour:red", "unknown field 'colour'"), ("level:bad", "unknown level"), ("vendor:", "give a value")],
)
def test_bad_filter_says_which_term_and_why(text: str, problem: str) -> None:
    with pytest.raises(FilterError, match=problem):
        CardFilter.parse(text)


def test_flagged_keeps_only_cards_worse_than_ok_in_worst_first_order(feed) -> None:
    rows = flagged(feed.fleet.ranked(), CardFilter())
    expected = {f"{node}/{index}" for node, cards in feed.scenarios.items() for index in cards}
    assert {r.card.key for r in rows} == expected
    levels = [r.health.level for r in rows if r.health is not None]
    assert levels == sorted(levels, reverse=True)
    assert rows[0].card.key == "gpu003/0"


def test_sort_orders(feed) -> None:
    rows = flagged(feed.fleet.ranked(), CardFilter())
    compute = [r.health.effective_compute for r in ordered(rows, SortKey.COMPUTE) if r.health is not None]
    assert compute == sorted(c for c in compute if c is not None)
    temps = [r.card.sample.temp_c for r in ordered(rows, SortKey.TEMP) if r.card.sample.temp_c is not None]
    assert temps == sorted(temps, reverse=True)
    nodes = [(r.card.sample.node, r.card.sample.index) for r in ordered(rows, SortKey.NODE)]
    assert nodes == sorted(nodes)
    assert [SortKey.WORST.next(), SortKey.NODE.next()] == [SortKey.COMPUTE, SortKey.WORST]


def test_numeric_slots_follow_the_named_edges() -> None:
    s = SimCollector(node="n", scenarios={0: "thermal"}).read()[0]
    assert slot(Metric.TEMP, replace(s, temp_c=50.0), None) == 0  # 40 °C below slowdown
    assert slot(Metric.TEMP, replace(s, temp_c=88.0), None) == 4  # 2 °C below
    assert slot(Metric.POWER, replace(s, power_w=690.0, power_limit_w=700.0), None) == 4
    assert slot(Metric.CLOCK, replace(s, sm_clock_mhz=1980.0), None) == 0
    assert slot(Metric.UTIL, replace(s, util_pct=5.0), None) == 4


def test_unknown_and_lost_are_never_a_colour_of_the_scale() -> None:
    s = SimCollector(node="n").read()[0]
    assert slot(Metric.TEMP, replace(s, temp_c=None), None) == UNKNOWN_SLOT
    assert slot(Metric.POWER, replace(s, power_limit_w=None), None) == UNKNOWN_SLOT
    assert slot(Metric.UTIL, replace(s, state=CardState.LOST), None) == DOWN_SLOT
    assert slot(Metric.HEALTH, s, None) == UNKNOWN_SLOT


def test_heat_groups_follow_the_fleet_file_groups_and_the_filter(feed) -> None:
    groups = heat_groups(feed.fleet, Metric.HEALTH, CardFilter())
    assert [g.label for g in groups] == ["rack r1", "rack r2"]
    assert [len(g.nodes) for g in groups] == [6, 6]
    lost = next(n for n in groups[0].nodes if n.name == "gpu003")
    assert lost.slots[0] == DOWN_SLOT and len(lost.slots) == 8
    only = heat_groups(feed.fleet, Metric.HEALTH, CardFilter.parse("reason:ecc"))
    assert [(n.name, n.slots.count(EMPTY_SLOT)) for g in only for n in g.nodes] == [("gpu004", 7)]


def test_metric_cycle_visits_every_metric_once() -> None:
    seen = [Metric.HEALTH]
    while (nxt := seen[-1].next()) is not Metric.HEALTH:
        seen.append(nxt)
    assert seen == list(Metric)
