"""Which cards a view shows and in what order: the `/` filter and the `s` sort, kept apart from widgets.

Filter syntax: space-separated terms, all of which must hold. ``node:GLOB`` (or a bare word) matches
the node name with shell wildcards; ``vendor:``, ``model:`` and ``reason:`` match a substring,
case-insensitively (``reason:`` against the codes and messages of active reasons); ``level:NAME``
keeps cards at that level or worse (``level:watch`` shows watch, degraded and failed).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cardwatch.fleet import CardEntry, RankedCard
from cardwatch.health import CardHealth, Level

FIELDS: Final = ("node", "vendor", "model", "level", "reason")
SYNTAX: Final = (
    "gpu0[0-3]*          node names matching the glob (same as node:gpu0[0-3]*)",
    "vendor:nvidia       vendor contains the text",
    "model:h100          model contains the text",
    "level:degraded      at this level or worse (ok, unknown, watch, degraded, failed)",
    "reason:thermal      an active reason whose code or message contains the text",
    "terms combine: all must hold, e.g.  rack1* level:watch reason:ecc",
)
"""The filter syntax as the help screen shows it."""


class FilterError(ValueError):
    """A filter the user typed that cannot be understood; the message says which term and why."""


@dataclass(frozen=True, slots=True)
class CardFilter:
    """Parsed filter terms; an empty filter keeps every card."""

    text: str = ""
    nodes: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    level: Level | None = None

    @classmethod
    def parse(cls, text: str) -> CardFilter:
        """Read the user's filter text; raises `FilterError` on an unknown field or level."""
        terms: dict[str, list[str]] = {name: [] for name in FIELDS}
        for term in text.split():
            name, sep, value = term.partition(":")
            name, value = (name.lower(), value) if sep else ("node", term)
            if name not in terms:
                raise FilterError(f"{term!r}: unknown field {name!r} (use {', '.join(FIELDS)})")
            if not value:
                raise FilterError(f"{term!r}: give a value after the colon")
            terms[name].append(value)
        return cls(
            text=" ".join(text.split()),
            nodes=tuple(terms["node"]),
            vendors=tuple(v.lower() for v in terms["vendor"]),
            models=tuple(v.lower() for v in terms["model"]),
            reasons=tuple(v.lower() for v in terms["reason"]),
            level=_level(terms["level"]),
        )

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps every card."""
        return not self.text

    @property
    def only_nodes(self) -> bool:
        """True when the filter says nothing about cards, only node names."""
        return not (self.vendors or self.models or self.reasons or self.level is not None)

    def matches_node(self, node: str) -> bool:
        """Whether the node name passes every node term."""
        return all(fnmatch.fnmatchcase(node, pattern) for pattern in self.nodes)

    def matches(self, card: CardEntry, health: CardHealth | None) -> bool:
        """Whether one card passes every term."""
        s = card.sample
        return (
            self.matches_node(s.node)
            and all(v in s.vendor.lower() for v in self.vendors)
            and all(m in (s.model or "").lower() for m in self.models)
            and (self.level is None or (health is not None and health.level >= self.level))
            and all(_has_reason(health, r) for r in self.reasons)
        )


def _level(values: list[str]) -> Level | None:
    if not values:
        return None
    if len(values) > 1:
        raise FilterError("give level: once")
    try:
        return Level[values[0].upper()]
    except KeyError:
        names = ", ".join(level.name.lower() for level in Level)
        raise FilterError(f"level:{values[0]}: unknown level (use {names})") from None


def _has_reason(health: CardHealth | None, text: str) -> bool:
    return health is not None and any(
        text in r.code.lower() or text in r.message.lower() for r in health.reasons
    )


class SortKey(StrEnum):
    """Orders for the worst-first list; `s` cycles them."""

    WORST = "worst"
    COMPUTE = "compute"
    TEMP = "temp"
    NODE = "node"

    def next(self) -> SortKey:
        """The order after this one, wrapping round."""
        members = list(SortKey)
        return members[(members.index(self) + 1) % len(members)]


def _by_compute(row: RankedCard) -> tuple[float, str]:
    compute = row.health.effective_compute if row.health is not None else None
    return (2.0 if compute is None else compute, row.card.key)


def _by_temp(row: RankedCard) -> tuple[float, str]:
    temp = row.card.sample.temp_c
    return (1.0 if temp is None else -temp, row.card.key)


def _by_node(row: RankedCard) -> tuple[str, int]:
    return (row.card.sample.node, row.card.sample.index)


_SORTS: Final[dict[SortKey, Callable[[RankedCard], tuple[object, ...]] | None]] = {
    SortKey.WORST: None,
    SortKey.COMPUTE: _by_compute,
    SortKey.TEMP: _by_temp,
    SortKey.NODE: _by_node,
}


def ordered(rows: Iterable[RankedCard], sort: SortKey) -> list[RankedCard]:
    """`rows` (already worst first, as `Fleet.ranked` gives them) in the chosen order."""
    key = _SORTS[sort]
    return list(rows) if key is None else sorted(rows, key=key)


def flagged(rows: Iterable[RankedCard], card_filter: CardFilter) -> list[RankedCard]:
    """The cards with a verdict worse than ok that pass the filter."""
    return [r for r in rows if r.health is not None and r.health.level > Level.OK and card_filter.matches(*r)]
