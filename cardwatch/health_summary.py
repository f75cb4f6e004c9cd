"""Fleet and group roll-ups: cards by level, compute delivered, the costliest cards, model spreads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cardwatch.health_peers import PeerStats
from cardwatch.health_types import CardHealth, Level


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Totals for the fleet or one group (rack, job, model).

    effective_compute sums the estimates of the `known` cards; effective_pct is that sum over `known`
    (None when no card has an estimate), so unknown cards never count as zero. top_cost lists
    (key, lost fraction) of the cards costing the most compute, worst first.
    """

    name: str
    cards: int
    by_level: Mapping[Level, int]
    known: int
    effective_compute: float
    effective_pct: float | None
    top_cost: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ModelSpread:
    """Median and MAD of SM clock under load for one model group: the straggler baseline."""

    model: str
    peers: int
    clock_median_mhz: float | None
    clock_mad_mhz: float | None


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """The whole fleet, each group (when a grouping was given), each model group, and its clock spread."""

    fleet: GroupSummary
    groups: Mapping[str, GroupSummary]
    models: Mapping[str, ModelSpread]
    by_model: Mapping[str, GroupSummary]


def summarize(
    cards: Mapping[str, CardHealth],
    peers: Mapping[str, PeerStats],
    group_of: Callable[[str], str] | None,
    model_of: Callable[[str], str],
    top_n: int,
) -> FleetSummary:
    """Roll the per-card verdicts up to the fleet, the groups `group_of` assigns, and the model groups."""
    return FleetSummary(
        fleet=_group("fleet", cards.values(), top_n),
        groups=_groups(cards, group_of, top_n) if group_of is not None else {},
        models={name: _model(p) for name, p in sorted(peers.items())},
        by_model=_groups(cards, model_of, top_n),
    )


def _groups(
    cards: Mapping[str, CardHealth], group_of: Callable[[str], str], top_n: int
) -> dict[str, GroupSummary]:
    groups: dict[str, list[CardHealth]] = {}
    for key, health in cards.items():
        groups.setdefault(group_of(key), []).append(health)
    return {name: _group(name, members, top_n) for name, members in sorted(groups.items())}


def _group(name: str, members: Iterable[CardHealth], top_n: int) -> GroupSummary:
    by_level = dict.fromkeys(Level, 0)
    known: list[tuple[str, float]] = []
    count = 0
    for health in members:
        count += 1
        by_level[health.level] += 1
        if health.effective_compute is not None:
            known.append((health.key, health.effective_compute))
    total = sum(value for _, value in known)
    costs = sorted(((key, 1 - value) for key, value in known if value < 1), key=lambda kv: (-kv[1], kv[0]))
    return GroupSummary(
        name=name,
        cards=count,
        by_level=by_level,
        known=len(known),
        effective_compute=total,
        effective_pct=100 * total / len(known) if known else None,
        top_cost=tuple(costs[:top_n]),
    )


def _model(p: PeerStats) -> ModelSpread:
    clock = p.clock
    return ModelSpread(
        model=p.group,
        peers=clock.n if clock else 0,
        clock_median_mhz=clock.median if clock else None,
        clock_mad_mhz=clock.mad if clock else None,
    )
