"""Heat-map metrics: each turns one card into a palette slot, so the screen only paints small integers.

Slots 0-4 run from calm to alarming; the rest mark what a colour scale cannot: unknown, down, no card.
Edges are fixed and named here (not scaled to the fleet), so the same colour means the same thing on
every screen and every day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from cardwatch.fleet import AgentLink, AgentStatus, Fleet
from cardwatch.fleetfile import GROUP_KINDS
from cardwatch.health import CardHealth, Level
from cardwatch.model import CardSample, CardState
from cardwatch.view import CardFilter

SCALE: Final = 5
UNKNOWN_SLOT: Final = 5
DOWN_SLOT: Final = 6
EMPTY_SLOT: Final = 7
SLOTS: Final = 8

DEFAULT_TEMP_LIMIT_C: Final = 95.0
"""Where the temperature scale tops out when the vendor gives no slowdown or memory limit."""


class Metric(StrEnum):
    """What the heat map colours by; `m` cycles them in this order."""

    HEALTH = "health"
    TEMP = "temp"
    HBM_TEMP = "hbm temp"
    POWER = "power/limit"
    CLOCK = "clock ratio"
    UTIL = "util"

    def next(self) -> Metric:
        """The metric after this one, wrapping round."""
        members = list(Metric)
        return members[(members.index(self) + 1) % len(members)]


LEVEL_SLOTS: Final = {
    Level.OK: 0,
    Level.WATCH: 2,
    Level.DEGRADED: 4,
    Level.UNKNOWN: UNKNOWN_SLOT,
    Level.FAILED: DOWN_SLOT,
}

MARGIN_EDGES_C: Final = (30.0, 20.0, 10.0, 5.0)
"""Degrees below the limit where slots 1..4 begin."""
POWER_EDGES: Final = (0.5, 0.7, 0.9, 0.97)
"""Fractions of the power limit where slots 1..4 begin."""
CLOCK_EDGES: Final = (0.97, 0.9, 0.8, 0.65)
"""SM clock / max clock below which slots 1..4 begin."""
UTIL_EDGES_PCT: Final = (90.0, 70.0, 40.0, 10.0)
"""Utilization below which slots 1..4 begin: an idle card stands out."""

LEGEND: Final[dict[Metric, tuple[tuple[int, str], ...]]] = {
    Metric.HEALTH: (
        (0, "ok"),
        (2, "watch"),
        (4, "degraded"),
        (UNKNOWN_SLOT, "unknown"),
        (DOWN_SLOT, "failed"),
    ),
    Metric.TEMP: ((0, ">30"), (1, "20"), (2, "10"), (3, "5"), (4, "<5 °C below slowdown")),
    Metric.HBM_TEMP: ((0, ">30"), (1, "20"), (2, "10"), (3, "5"), (4, "<5 °C below HBM limit")),
    Metric.POWER: ((0, "<50"), (1, "50"), (2, "70"), (3, "90"), (4, ">97 % of limit")),
    Metric.CLOCK: ((0, ">97"), (1, "97"), (2, "90"), (3, "80"), (4, "<65 % of max clock")),
    Metric.UTIL: ((0, ">90"), (1, "90"), (2, "70"), (3, "40"), (4, "<10 % util")),
}
"""Per metric, the slots a legend shows and their labels (unknown and lost are added for numeric metrics)."""


@dataclass(frozen=True, slots=True)
class HeatNode:
    """One node's cards as palette slots, in card-index order."""

    name: str
    slots: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HeatGroup:
    """The nodes of one fleet-file group (rack, cluster or job), drawn under one header."""

    label: str
    nodes: tuple[HeatNode, ...]


NO_DATA_SLOTS: Final = {AgentStatus.CONNECTING: UNKNOWN_SLOT, AgentStatus.STALE: UNKNOWN_SLOT}
"""The one cell a node without cards shows; any other status (down, unauthorized...) shows as down."""


def grouping(fleet: Fleet) -> str | None:
    """The group kind the heat map groups by: the first of rack, cluster, job the fleet file uses."""
    used = {kind for link in fleet.agents() for kind in link.spec.groups}
    return next((kind for kind in GROUP_KINDS if kind in used), None)


def heat_groups(fleet: Fleet, metric: Metric, card_filter: CardFilter) -> list[HeatGroup]:
    """Every node as a row of slots, in fleet-file order, grouped; filtered-out cards are empty cells."""
    kind = grouping(fleet)
    groups: dict[str, list[HeatNode]] = {}
    for link in fleet.agents():
        node = _heat_node(fleet, link, metric, card_filter)
        if node is not None:
            groups.setdefault(link.spec.groups.get(kind, "-") if kind else "", []).append(node)
    return [HeatGroup(f"{kind} {name}" if kind else "fleet", tuple(nodes)) for name, nodes in groups.items()]


def _heat_node(fleet: Fleet, link: AgentLink, metric: Metric, card_filter: CardFilter) -> HeatNode | None:
    name = link.node or node_label(link.spec.url)
    if not card_filter.matches_node(name):
        return None
    if not link.cards:
        no_data = NO_DATA_SLOTS.get(link.state.status, DOWN_SLOT)
        return HeatNode(name, (no_data,)) if card_filter.only_nodes else None
    keep = None if card_filter.is_empty else card_filter.matches
    known = link.state.status is AgentStatus.LIVE or metric is Metric.HEALTH
    slots = []
    for index in sorted(link.cards):
        card = link.cards[index]
        health = fleet.health(card.key)
        if keep is not None and not keep(card, health):
            slots.append(EMPTY_SLOT)
        else:
            slots.append(slot(metric, card.sample, health) if known else UNKNOWN_SLOT)
    return HeatNode(name, tuple(slots)) if any(s != EMPTY_SLOT for s in slots) else None


def node_label(url: str) -> str:
    """What a node is called before its agent said its name: the agent's host:port."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def slot(metric: Metric, sample: CardSample | None, health: CardHealth | None) -> int:
    """The palette slot of one card under `metric`."""
    if metric is Metric.HEALTH:
        return LEVEL_SLOTS[health.level] if health is not None else UNKNOWN_SLOT
    if sample is None:
        return UNKNOWN_SLOT
    if sample.state is CardState.LOST:
        return DOWN_SLOT
    if sample.state is not CardState.OK:
        return UNKNOWN_SLOT
    return _NUMERIC[metric](sample)


def _rising(value: float, edges: tuple[float, ...]) -> int:
    return sum(value >= edge for edge in edges)


def _falling(value: float, edges: tuple[float, ...]) -> int:
    return sum(value < edge for edge in edges)


def _temp(s: CardSample) -> int:
    if s.temp_c is None:
        return UNKNOWN_SLOT
    limit = s.temp_slowdown_c or s.temp_max_operating_c or DEFAULT_TEMP_LIMIT_C
    return _falling(limit - s.temp_c, MARGIN_EDGES_C)


def _hbm_temp(s: CardSample) -> int:
    if s.mem_temp_c is None:
        return UNKNOWN_SLOT
    return _falling((s.mem_temp_max_c or DEFAULT_TEMP_LIMIT_C) - s.mem_temp_c, MARGIN_EDGES_C)


def _power(s: CardSample) -> int:
    if s.power_w is None or not s.power_limit_w:
        return UNKNOWN_SLOT
    return _rising(s.power_w / s.power_limit_w, POWER_EDGES)


def _clock(s: CardSample) -> int:
    if s.sm_clock_mhz is None or not s.sm_clock_max_mhz:
        return UNKNOWN_SLOT
    return _falling(s.sm_clock_mhz / s.sm_clock_max_mhz, CLOCK_EDGES)


def _util(s: CardSample) -> int:
    return UNKNOWN_SLOT if s.util_pct is None else _falling(s.util_pct, UTIL_EDGES_PCT)


_NUMERIC: Final[dict[Metric, Callable[[CardSample], int]]] = {
    Metric.TEMP: _temp,
    Metric.HBM_TEMP: _hbm_temp,
    Metric.POWER: _power,
    Metric.CLOCK: _clock,
    Metric.UTIL: _util,
}
