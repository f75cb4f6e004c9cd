"""Decoding of parsed stream frames into checked samples, before anything touches the fleet model.

Each function either returns everything a frame carries, decoded and validated, or raises `WireError`
naming the problem, so a bad frame is refused whole and never half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cardwatch.collectors import CollectorStatus
from cardwatch.model import CardSample
from cardwatch.wire import (
    FRAME_SNAPSHOT,
    WireError,
    apply_wire_delta,
    sample_from_wire,
    sample_with_changes,
    status_from_wire,
)


@dataclass(frozen=True, slots=True)
class DecodedCard:
    """One card of a frame: its full wire form (deltas already merged) and the decoded sample."""

    index: int
    wire: dict[str, Any]
    sample: CardSample


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot frame: every card of the agent, plus what the agent says about itself."""

    node: str
    seq: int
    ts: float
    interval_s: float | None
    version: str | None
    dropped: int
    cards: tuple[DecodedCard, ...]
    collectors: tuple[CollectorStatus, ...]


def decode_snapshot(frame: Mapping[str, Any]) -> Snapshot:
    """Check and decode a snapshot frame that `parse_frame` accepted."""
    if frame["kind"] != FRAME_SNAPSHOT:
        raise WireError(f"expected a snapshot frame, got {frame['kind']!r}")
    node = frame["node"]
    cards = tuple(_decode_card(wire, node) for wire in frame["cards"])
    indexes = [card.index for card in cards]
    if len(set(indexes)) != len(indexes):
        raise WireError("snapshot lists the same card index twice")
    agent = frame.get("agent")
    version = agent.get("version") if isinstance(agent, Mapping) else None
    return Snapshot(
        node=node,
        seq=frame["seq"],
        ts=frame["ts"],
        interval_s=_positive_float(frame.get("interval_s"), "interval_s"),
        version=version if isinstance(version, str) else None,
        dropped=_count(frame.get("dropped")),
        cards=cards,
        collectors=decode_collectors(frame),
    )


def decode_tick(frame: Mapping[str, Any], held: Mapping[int, DecodedCard]) -> tuple[DecodedCard, ...]:
    """Merge a tick's deltas onto the cards `held` (by card index), decoding only what each delta changed."""
    out = []
    for delta in frame["cards"]:
        index = delta.get("index") if isinstance(delta, dict) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise WireError("delta without an integer 'index'")
        if index not in held:
            raise WireError(f"delta for card {index}, which the snapshot did not list")
        out.append(_apply_delta(held[index], delta, frame["node"]))
    return tuple(out)


def _apply_delta(card: DecodedCard, delta: Mapping[str, Any], node: str) -> DecodedCard:
    wire = apply_wire_delta(card.wire, delta)
    if None in delta.values():
        return _decode_card(wire, node)
    try:
        sample = sample_with_changes(card.sample, delta)
    except WireError as exc:
        raise WireError(f"card {card.index}: {exc}") from None
    return _checked(DecodedCard(card.index, wire, sample), node)


def decode_collectors(frame: Mapping[str, Any]) -> tuple[CollectorStatus, ...]:
    """The frame's collector statuses (none when the frame carries none)."""
    statuses = frame.get("collectors", [])
    if not isinstance(statuses, list):
        raise WireError("'collectors' must be a list")
    return tuple(status_from_wire(status) for status in statuses)


def _decode_card(wire: Any, node: str) -> DecodedCard:
    if not isinstance(wire, dict):
        raise WireError(f"card must be an object, got {type(wire).__name__}")
    try:
        sample = sample_from_wire(wire)
    except WireError as exc:
        raise WireError(f"card {wire.get('index', '?')}: {exc}") from None
    return _checked(DecodedCard(sample.index, wire, sample), node)


def _checked(card: DecodedCard, node: str) -> DecodedCard:
    if card.sample.node != node:
        raise WireError(f"card {card.index} says node {card.sample.node!r}, the frame says {node!r}")
    return card


def _positive_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise WireError(f"{name!r} must be a positive number, got {value!r}")
    return float(value)


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError(f"'dropped' must be a count, got {value!r}")
    return value
