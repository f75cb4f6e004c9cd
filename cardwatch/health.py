"""The health engine: turns card samples into verdicts, with hysteresis, peers and acknowledgements.

Pure and deterministic: time comes in as `now`, nothing is read or written. Only the cards given to
`observe()` are re-evaluated; peer baselines are computed once per call from every card's latest sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from cardwatch.health_compute import effective_compute
from cardwatch.health_config import ConfigError, HealthConfig, load_config
from cardwatch.health_events import EVENT_RULES, stuck_finding
from cardwatch.health_peers import PEER_RULES, PeerStats, compute_peers, peer_group
from cardwatch.health_rules import SAMPLE_RULES
from cardwatch.health_summary import FleetSummary, GroupSummary, ModelSpread, summarize
from cardwatch.health_types import Action, CardHealth, Finding, HealthChange, Level, Reason
from cardwatch.health_window import CardWindow
from cardwatch.model import CardSample, CardState

__all__ = [
    "Action",
    "CardHealth",
    "ConfigError",
    "FleetSummary",
    "GroupSummary",
    "HealthChange",
    "HealthConfig",
    "HealthEngine",
    "Level",
    "ModelSpread",
    "Reason",
    "load_config",
]

STALE_CODES = frozenset({"STALE_AGENT", "COLLECTOR_STUCK", "CARD_READ_ERROR"})
"""Reasons that mean the data is not fresh, so older findings are last-known rather than current."""


class _Tracker:
    """Hysteresis of one reason on one card: recent hits as bits, whether raised, clean streak."""

    __slots__ = ("acked_by", "active", "clean", "finding", "hits", "since_ts")

    def __init__(self, finding: Finding, since_ts: float) -> None:
        self.finding = finding
        self.since_ts = since_ts
        self.hits = 0
        self.active = False
        self.clean = 0
        self.acked_by: str | None = None


class _Card:
    """Everything the engine keeps about one card."""

    __slots__ = ("trackers", "window")

    def __init__(self, window: CardWindow) -> None:
        self.window = window
        self.trackers: dict[str, _Tracker] = {}


class HealthEngine:
    """Verdicts for every card the fleet model feeds in; see docs/health-rules.md for the rules."""

    def __init__(
        self, config: HealthConfig | None = None, *, peer_scope: Callable[[str], str] | None = None
    ) -> None:
        """`peer_scope(key)` (rack, job) narrows peers to cards of the same model in the same scope."""
        self.config = config or HealthConfig()
        self.peer_scope = peer_scope
        self._cards: dict[str, _Card] = {}
        self._health: dict[str, CardHealth] = {}
        self._peers: dict[str, PeerStats] = {}
        self._mask = (1 << max(self.config.raise_m, 1)) - 1

    def observe(self, samples: Iterable[CardSample], now: float) -> list[HealthChange]:
        """Take new samples, re-evaluate those cards, and return the reasons raised or cleared.

        Times in verdicts and changes come from the samples, so replaying a recording gives the same
        result; `now` is the caller's clock, kept for symmetry with `mark_unknown` and `acknowledge`.
        """
        fresh = [self._remember(s) for s in samples]
        windows = (c.window for c in self._cards.values())
        self._peers = compute_peers(windows, self.config, self._peer_key)
        changes: list[HealthChange] = []
        for key, card, s in fresh:
            unread = s.state is CardState.ERROR or s.state is CardState.STALE
            self._track(key, card, self._findings(card.window), s.ts, changes, frozen=unread)
        return changes

    def mark_unknown(
        self, keys: Iterable[str], now: float, reason: str, code: str = "STALE_AGENT"
    ) -> list[HealthChange]:
        """No fresh data (agent down, collector stuck): UNKNOWN with the reason; sticky reasons stay."""
        changes: list[HealthChange] = []
        for key in keys:
            card = self._cards.get(key) or self._new_card(key)
            if code == "COLLECTOR_STUCK":
                stale = stuck_finding(reason, now, card.window, self.config)
            else:
                stale = Finding(code, Level.UNKNOWN, reason, Action.WATCH, immediate=True)
            self._track(key, card, [stale], now, changes, frozen=True)
        return changes

    def forget(self, keys: Iterable[str]) -> None:
        """Drop cards that left the fleet (their history too)."""
        for key in keys:
            self._cards.pop(key, None)
            self._health.pop(key, None)

    def health(self, key: str) -> CardHealth | None:
        """The current verdict on one card, or None if it was never seen."""
        return self._health.get(key)

    def all(self) -> Mapping[str, CardHealth]:
        """Every card's current verdict, by key (a live read-only view)."""
        return MappingProxyType(self._health)

    def peers(self) -> Mapping[str, PeerStats]:
        """The model-group baselines of the last `observe()` call."""
        return self._peers

    def acknowledge(self, key: str, code: str, who: str, now: float) -> HealthChange | None:
        """An operator saw a reason; a sticky one whose condition is gone is then cleared. None if not active."""
        card = self._cards.get(key)
        tracker = card.trackers.get(code) if card else None
        if card is None or tracker is None or not tracker.active:
            return None
        tracker.acked_by = who
        f = tracker.finding
        if not tracker.hits & 1:
            del card.trackers[code]
        self._publish(key, card, self._health[key].ts)
        return HealthChange(key, code, "acknowledged", now, f.level, f.message, who)

    def summary(self, group_of: Callable[[str], str] | None = None) -> FleetSummary:
        """Totals by level, compute delivered, costliest cards: fleet, per group, per model; model clock spread."""
        return summarize(self._health, self._peers, group_of, self._model_of, self.config.top_n)

    def _model_of(self, key: str) -> str:
        latest = self._cards[key].window.latest
        return peer_group(latest) if latest is not None else "model unknown (no sample yet)"

    def _peer_key(self, s: CardSample) -> str:
        if self.peer_scope is None:
            return peer_group(s)
        return f"{self.peer_scope(s.key)}: {peer_group(s)}"

    def _remember(self, s: CardSample) -> tuple[str, _Card, CardSample]:
        key = s.key
        card = self._cards.get(key) or self._new_card(key)
        card.window.push(s, self.config)
        return key, card, s

    def _new_card(self, key: str) -> _Card:
        card = _Card(CardWindow(self.config))
        self._cards[key] = card
        return card

    def _findings(self, w: CardWindow) -> list[Finding]:
        s, cfg, out = w.latest, self.config, []
        for event_rule in EVENT_RULES:
            event_rule(s, w, cfg, out)
        if s.state is not CardState.OK:
            return out
        for rule in SAMPLE_RULES:
            rule(s, w, cfg, out)
        peers = self._peers.get(self._peer_key(s))
        if peers is not None:
            for peer_rule in PEER_RULES:
                peer_rule(s, w, peers, cfg, out)
        return out

    def _track(
        self,
        key: str,
        card: _Card,
        findings: list[Finding],
        ts: float,
        changes: list[HealthChange],
        frozen: bool = False,
    ) -> None:
        """Apply hysteresis: raise after N of the last M hits, clear after enough clean samples.

        `frozen` (no fresh reading) leaves reasons not in `findings` as they were: silence is not clean.
        """
        if not findings and not card.trackers:
            self._publish_ok(key, card, ts)
            return
        seen = set()
        for f in findings:
            seen.add(f.code)
            self._hit(key, card, f, ts, changes)
        if not frozen:
            for code in [c for c in card.trackers if c not in seen]:
                self._miss(key, card, code, ts, changes)
        self._publish(key, card, ts)

    def _hit(self, key: str, card: _Card, f: Finding, ts: float, changes: list[HealthChange]) -> None:
        tracker = card.trackers.get(f.code)
        if tracker is None:
            tracker = card.trackers[f.code] = _Tracker(f, ts)
        tracker.hits = ((tracker.hits << 1) | 1) & self._mask
        tracker.clean = 0
        escalated = tracker.active and f.level > tracker.finding.level
        tracker.finding = f
        if not tracker.active and (f.immediate or tracker.hits.bit_count() >= self.config.raise_n):
            tracker.active = True
            escalated = True
        if escalated:
            changes.append(HealthChange(key, f.code, "raised", ts, f.level, f.message))

    def _miss(self, key: str, card: _Card, code: str, ts: float, changes: list[HealthChange]) -> None:
        tracker = card.trackers[code]
        tracker.hits = (tracker.hits << 1) & self._mask
        tracker.clean += 1
        f = tracker.finding
        if not tracker.active:
            if not tracker.hits:
                del card.trackers[code]
            return
        if f.sticky and tracker.acked_by is None:
            return
        if f.immediate or tracker.clean >= self.config.clear_after:
            del card.trackers[code]
            changes.append(HealthChange(key, code, "cleared", ts, f.level, f.message))

    def _publish_ok(self, key: str, card: _Card, ts: float) -> None:
        """The common case, kept cheap: no reason active or pending."""
        compute, basis = effective_compute(card.window, self.config, None)
        self._health[key] = CardHealth(key, Level.OK, (), compute, basis, ts)

    def _publish(self, key: str, card: _Card, ts: float) -> None:
        reasons = [_reason(t) for t in card.trackers.values() if t.active]
        stale = next((r for r in reasons if r.code in STALE_CODES), None)
        reasons.sort(key=lambda r: (-_current_level(r, stale is not None), r.since_ts, r.code))
        level = max((_current_level(r, stale is not None) for r in reasons), default=Level.OK)
        compute, basis = self._compute(card, reasons, stale)
        self._health[key] = CardHealth(key, level, tuple(reasons), compute, basis, ts)

    def _compute(self, card: _Card, reasons: list[Reason], stale: Reason | None) -> tuple[float | None, str]:
        """Effective compute, except that a hung card delivers nothing and stale data says nothing."""
        if stale is not None and stale.code == "COLLECTOR_STUCK" and stale.level >= Level.DEGRADED:
            return 0.0, f"hung: {stale.message}"
        if stale is not None or not card.window.samples:
            return None, f"unknown: {stale.message if stale else 'no sample yet'}"
        failed = next((r.code for r in reasons if r.level is Level.FAILED), None)
        return effective_compute(card.window, self.config, failed)


def _reason(t: _Tracker) -> Reason:
    f = t.finding
    return Reason(f.code, f.level, f.message, t.since_ts, f.action, f.sticky, t.acked_by)


def _current_level(r: Reason, stale: bool) -> Level:
    """While data is stale, a non-sticky finding is only last-known, so it ranks below UNKNOWN."""
    if not stale or r.sticky or r.code in STALE_CODES:
        return r.level
    return Level.OK
