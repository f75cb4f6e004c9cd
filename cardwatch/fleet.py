"""The fleet model: every agent's connection state and every card's latest sample, history and health.

Streams write into it (`apply_frame`, `set_agent_state`), cheaply and without sorting; screens, exports
and the recorder read it at their own pace, and sorting happens there (`ranked`, `header`). It knows no
widgets, so tests drive it directly. The health engine is passed in and fed only the cards that changed
since the last `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from cardwatch.collectors import CollectorStatus
from cardwatch.events import EventKind, EventLog, FleetEvent
from cardwatch.fleetfile import AgentSpec
from cardwatch.frames import DecodedCard, Snapshot, decode_collectors, decode_snapshot, decode_tick
from cardwatch.health_types import CardHealth, HealthChange, Level
from cardwatch.history import CardHistory
from cardwatch.model import CardSample, CardState
from cardwatch.wire import FRAME_SNAPSHOT, WireError

if TYPE_CHECKING:
    from cardwatch.health import GroupSummary, HealthEngine

STALE_INTERVALS: Final = 3
"""An agent with no frame for this many intervals is stale."""
ASSUMED_INTERVAL_S: Final = 1.0
"""The agent's default interval, assumed when its snapshot does not say."""


class AgentStatus(StrEnum):
    """Where the connection to one agent stands."""

    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    DOWN = "down"
    UNAUTHORIZED = "unauthorized"
    VERSION_MISMATCH = "version_mismatch"


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent's status, why (for anything but live), and since when."""

    status: AgentStatus
    reason: str | None
    since_ts: float


@dataclass(slots=True, eq=False)
class CardEntry:
    """One card as the fleet holds it: full wire form, decoded sample and plot history."""

    key: str
    agent_url: str
    wire: dict[str, Any]
    sample: CardSample
    history: CardHistory


@dataclass(slots=True, eq=False)
class AgentLink:
    """One agent as the fleet holds it (read it, do not write it: the fleet's methods do)."""

    spec: AgentSpec
    state: AgentState
    node: str | None = None
    version: str | None = None
    interval_s: float | None = None
    seq: int | None = None
    last_frame_at: float | None = None  # local clock when the last frame arrived
    data_ts: float | None = None  # the agent's timestamp of its last frame
    collectors: tuple[CollectorStatus, ...] = ()
    cards: dict[int, CardEntry] = field(default_factory=dict)


class RankedCard(NamedTuple):
    """A card with its current verdict (None until the first `evaluate` after it arrived)."""

    card: CardEntry
    health: CardHealth | None


@dataclass(frozen=True, slots=True)
class FleetHeader:
    """The overview's header line."""

    nodes_live: int
    nodes_total: int
    cards: GroupSummary  # by level, effective compute % over the cards where it is known, costliest cards
    hottest: CardEntry | None
    newest_ts: float | None  # the agents' time of the newest frame


class Fleet:
    """All agents of one fleet, their cards, and the health verdicts of those cards."""

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        *,
        engine: HealthEngine,
        now: float,
        history_len: int = 300,
        events_len: int = 2000,
    ) -> None:
        self.engine = engine
        self.events = EventLog(events_len)
        self.history_len = history_len
        start = AgentState(AgentStatus.CONNECTING, None, now)
        self._agents = {spec.url: AgentLink(spec, start) for spec in agents}
        self._nodes: dict[str, str] = {}
        self._cards: dict[str, CardEntry] = {}
        self._dirty: set[str] = set()
        self._unknown: dict[str, str] = {}
        self._forgotten: set[str] = set()

    def agents(self) -> list[AgentLink]:
        """Every agent, in fleet-file order."""
        return list(self._agents.values())

    def agent(self, url: str) -> AgentLink:
        """One agent by its base URL."""
        return self._agents[url]

    def set_agent_state(self, url: str, status: AgentStatus, reason: str | None, now: float) -> None:
        """Record where an agent's connection stands; a new status is logged and its cards go unknown."""
        link = self._agents[url]
        if link.state.status is status:
            if link.state.reason != reason:
                link.state = AgentState(status, reason, link.state.since_ts)
            return
        link.state = AgentState(status, reason, now)
        message = f"{status.value}: {reason}" if reason else status.value
        self.events.add(FleetEvent(now, EventKind.AGENT, url, message, code=status.value))
        if status is not AgentStatus.LIVE and link.cards:
            self._unknown[url] = f"agent {message}"

    def apply_frame(self, url: str, frame: Mapping[str, Any], now: float) -> str | None:
        """Merge one parsed frame; return None, or the problem (the agent is then marked down with it)."""
        link = self._agents[url]
        try:
            if frame["kind"] == FRAME_SNAPSHOT:
                self._apply_snapshot(link, decode_snapshot(frame), now)
            else:
                self._apply_tick(link, frame, now)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"bad frame: {exc}"
            self.set_agent_state(url, AgentStatus.DOWN, problem, now)
            return problem
        link.seq = frame["seq"]
        link.last_frame_at = now
        link.data_ts = frame["ts"]
        self.set_agent_state(url, AgentStatus.LIVE, None, now)
        return None

    def check_staleness(self, now: float) -> None:
        """Mark live agents stale when no frame came within `STALE_INTERVALS` intervals."""
        for link in self._agents.values():
            if link.state.status is not AgentStatus.LIVE or link.last_frame_at is None:
                continue
            interval_s = link.interval_s or ASSUMED_INTERVAL_S
            silent_s = now - link.last_frame_at
            if silent_s > STALE_INTERVALS * interval_s:
                reason = f"no frame for {silent_s:.1f} s (interval {interval_s:g} s)"
                self.set_agent_state(link.spec.url, AgentStatus.STALE, reason, now)

    def evaluate(self, now: float) -> list[HealthChange]:
        """Feed the cards changed since the last call to the health engine; cards of lost agents go unknown."""
        changes: list[HealthChange] = []
        if self._forgotten:
            self.engine.forget(self._forgotten)
            self._forgotten = set()
        samples = [self._cards[key].sample for key in self._dirty if self._is_live(key)]
        self._dirty.clear()
        if samples:
            changes.extend(self.engine.observe(samples, now))
        for url, reason in self._unknown.items():
            keys = [card.key for card in self._agents[url].cards.values()]
            if keys and self._agents[url].state.status is not AgentStatus.LIVE:
                changes.extend(self.engine.mark_unknown(keys, now, reason))
        self._unknown.clear()
        for change in changes:
            self.events.add(_health_event(change))
        return changes

    def card(self, key: str) -> CardEntry | None:
        """One card by key ("node/index")."""
        return self._cards.get(key)

    def cards(self) -> Iterable[CardEntry]:
        """Every card, in no particular order."""
        return self._cards.values()

    def node_cards(self, node: str) -> list[CardEntry]:
        """The cards of one node, by index."""
        url = self._nodes.get(node)
        return [] if url is None else [self._agents[url].cards[i] for i in sorted(self._agents[url].cards)]

    def agent_of_node(self, node: str) -> AgentLink | None:
        """The agent serving a node."""
        url = self._nodes.get(node)
        return None if url is None else self._agents[url]

    def health(self, key: str) -> CardHealth | None:
        """A card's current verdict."""
        return self.engine.health(key)

    def groups_of(self, key: str) -> Mapping[str, str]:
        """The groups (kind -> name) a card belongs to through its node's agent."""
        card = self._cards.get(key)
        return {} if card is None else self._agents[card.agent_url].spec.groups

    def group_of(self, kind: str) -> Callable[[str], str]:
        """A key -> group-name function for one group kind, for `HealthEngine.summary`."""
        return lambda key: self.groups_of(key).get(kind, "-")

    def ranked(self, flagged_only: bool = False) -> list[RankedCard]:
        """Cards worst first: level, then lowest effective compute, then key; unevaluated cards last."""
        rows = [RankedCard(card, self.engine.health(card.key)) for card in self._cards.values()]
        if flagged_only:
            rows = [row for row in rows if row.health is not None and row.health.level is not Level.OK]
        return sorted(rows, key=_rank_key)

    def header(self) -> FleetHeader:
        """Counts and extremes for the overview header (cards the engine has not judged yet are not counted)."""
        hot = [card for card in self._cards.values() if card.sample.temp_c is not None]
        stamps = [link.data_ts for link in self._agents.values() if link.data_ts is not None]
        return FleetHeader(
            nodes_live=sum(link.state.status is AgentStatus.LIVE for link in self._agents.values()),
            nodes_total=len(self._agents),
            cards=self.engine.summary().fleet,
            hottest=max(hot, key=lambda card: card.sample.temp_c or 0.0, default=None),
            newest_ts=max(stamps, default=None),
        )

    def _is_live(self, key: str) -> bool:
        card = self._cards.get(key)
        return card is not None and self._agents[card.agent_url].state.status is AgentStatus.LIVE

    def _apply_snapshot(self, link: AgentLink, snap: Snapshot, now: float) -> None:
        owner = self._nodes.get(snap.node)
        if owner is not None and owner != link.spec.url:
            raise WireError(f"node {snap.node!r} is already served by {owner}")
        if link.node is not None and link.node != snap.node:
            self._drop_cards(link, set(link.cards))
            del self._nodes[link.node]
        link.node, link.version, link.interval_s = snap.node, snap.version, snap.interval_s
        link.collectors = snap.collectors
        self._nodes[snap.node] = link.spec.url
        self._drop_cards(link, set(link.cards) - {card.index for card in snap.cards})
        self._store(link, snap.cards, now)
        if snap.dropped:
            message = (
                f"agent dropped {snap.dropped} frames for this console (too slow to read them); resynced"
            )
            self.events.add(FleetEvent(now, EventKind.AGENT, link.spec.url, message))

    def _apply_tick(self, link: AgentLink, frame: Mapping[str, Any], now: float) -> None:
        if link.seq is None or link.node is None:
            raise WireError("tick before any snapshot")
        if frame["seq"] != link.seq + 1:
            raise WireError(f"seq jumped from {link.seq} to {frame['seq']} (deltas lost)")
        if frame["node"] != link.node:
            raise WireError(f"tick for node {frame['node']!r} on the stream of {link.node!r}")
        held = {index: DecodedCard(index, card.wire, card.sample) for index, card in link.cards.items()}
        cards = decode_tick(frame, held)
        link.collectors = decode_collectors(frame)
        self._store(link, cards, now)

    def _store(self, link: AgentLink, decoded: Iterable[DecodedCard], now: float) -> None:
        for new in decoded:
            card = link.cards.get(new.index)
            if card is None:
                card = CardEntry(
                    new.sample.key, link.spec.url, new.wire, new.sample, CardHistory(self.history_len)
                )
                link.cards[new.index] = card
                self._cards[card.key] = card
                self._forgotten.discard(card.key)
            else:
                self._log_card_events(card.sample, new.sample)
                card.wire, card.sample = new.wire, new.sample
            if new.sample.xids:
                self._log_xids(new.sample)
            card.history.append(new.sample)
            self._dirty.add(card.key)

    def _drop_cards(self, link: AgentLink, indexes: set[int]) -> None:
        for index in indexes:
            key = link.cards.pop(index).key
            del self._cards[key]
            self._dirty.discard(key)
            self._forgotten.add(key)

    def _log_card_events(self, old: CardSample, new: CardSample) -> None:
        if new.vendor_health != old.vendor_health:
            detail = f" ({new.vendor_health_detail})" if new.vendor_health_detail else ""
            message = (
                f"vendor health {old.vendor_health or 'unknown'} -> {new.vendor_health or 'unknown'}{detail}"
            )
            self.events.add(FleetEvent(new.ts, EventKind.VENDOR_HEALTH, new.key, message))

    def _log_xids(self, sample: CardSample) -> None:
        codes = ", ".join(str(x) for x in sample.xids)
        where = (
            f" ({sample.state_reason})" if sample.state is not CardState.OK and sample.state_reason else ""
        )
        self.events.add(FleetEvent(sample.ts, EventKind.XID, sample.key, f"Xid {codes}{where}"))


def _health_event(change: HealthChange) -> FleetEvent:
    who = f" by {change.who}" if change.who else ""
    message = f"{change.kind} {change.code}{who}: {change.message}"
    return FleetEvent(change.ts, EventKind.HEALTH, change.key, message, level=change.level, code=change.code)


def _rank_key(row: RankedCard) -> tuple[int, float, str]:
    if row.health is None:
        return (1, 0.0, row.card.key)
    compute = row.health.effective_compute
    return (-int(row.health.level), 2.0 if compute is None else compute, row.card.key)
