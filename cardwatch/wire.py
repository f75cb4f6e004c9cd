"""The versioned JSON wire form of samples and stream frames (see docs/wire-protocol.md).

A sample on the wire is a JSON object with the `CardSample` field names as keys; fields that are
`None` or empty are left out. Stream frames carry a whole snapshot first and then per-card deltas
(only the fields that changed; a field that became unknown is sent as ``null``), which keeps a
steady-state tick well under the size of the full samples.

Decoding is strict: a wrong type, a non-finite number or a missing identity field raises `WireError`,
so hostile or garbled input is refused, never turned into a wrong number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from typing import Any, Final

from cardwatch.collectors import CollectorStatus
from cardwatch.model import FIELD_KINDS, REQUIRED_FIELDS, CardSample, CardState

WIRE_VERSION: Final = 1
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024

FRAME_SNAPSHOT: Final = "snapshot"
FRAME_TICK: Final = "tick"
FRAME_KINDS: Final = (FRAME_SNAPSHOT, FRAME_TICK)

_FIELD_ORDER: Final = tuple(f.name for f in fields(CardSample))


class WireError(ValueError):
    """Input that is not a valid cardwatch wire object."""


def sample_to_wire(sample: CardSample) -> dict[str, Any]:
    """Encode one sample as a JSON-ready dict, leaving out unknown and empty fields."""
    out: dict[str, Any] = {}
    for name in _FIELD_ORDER:
        value = getattr(sample, name)
        if value is None or (isinstance(value, tuple | dict) and not value):
            continue
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, CardState):
            if value is CardState.OK:
                continue
            value = value.value
        elif isinstance(value, dict):
            value = dict(value)
        out[name] = value
    return out


def sample_from_wire(obj: Any) -> CardSample:
    """Decode and validate one wire sample; unknown keys are ignored for forward compatibility."""
    if not isinstance(obj, Mapping):
        raise WireError(f"sample must be an object, got {type(obj).__name__}")
    missing = [name for name in REQUIRED_FIELDS if obj.get(name) is None]
    if missing:
        raise WireError(f"sample lacks {', '.join(missing)}")
    kwargs = {name: _decode_value(name, kind, obj[name]) for name, kind in FIELD_KINDS.items() if name in obj}
    return CardSample(**{k: v for k, v in kwargs.items() if v is not None})


def sample_with_changes(sample: CardSample, changes: Mapping[str, Any]) -> CardSample:
    """`sample` with the fields of a wire delta decoded and set; only the changed fields are checked.

    A tick changes a few fields per card, so this is what lets one core merge 10,000 cards a second.
    A field that became unknown (``None`` in a delta) is refused here: decode the merged sample whole.
    """
    values = {name: getattr(sample, name) for name in _FIELD_ORDER}
    for name, value in changes.items():
        kind = FIELD_KINDS.get(name)
        if kind is not None:
            if value is None:
                raise WireError(f"field {name!r} became unknown; decode the whole sample")
            values[name] = _decode_value(name, kind, value)
    return CardSample(**values)


def _decode_value(name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if type(value) is _EXACT.get(kind) and (kind != "float" or math.isfinite(value)):
        return value
    try:
        return _DECODERS[kind](value)
    except (TypeError, ValueError) as exc:
        raise WireError(f"field {name!r}: {exc}") from None


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {value!r}")
    return float(value)


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true/false, got {type(value).__name__}")
    return value


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _as_strmap(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return {_as_str(k): _as_str(v) for k, v in value.items()}


_EXACT: Final = {"str": str, "int": int, "float": float, "bool": bool}
"""Kinds whose values already have the exact type need no decoder (the common case, and the hot path)."""

_DECODERS: Final = {
    "str": _as_str,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "state": lambda v: CardState(_as_str(v)),
    "strset": lambda v: frozenset(_as_str(x) for x in _as_list(v)),
    "ints": lambda v: tuple(_as_int(x) for x in _as_list(v)),
    "strs": lambda v: tuple(_as_str(x) for x in _as_list(v)),
    "strmap": _as_strmap,
}


def wire_delta(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `current` that differ from `previous`; vanished fields become ``None``.

    The card's ``index`` is always kept so the receiver knows which card the delta is for.
    """
    if previous is None:
        return dict(current)
    delta = {k: v for k, v in current.items() if previous.get(k) != v}
    delta.update({k: None for k in previous if k not in current})
    delta["index"] = current["index"]
    return delta


def apply_wire_delta(previous: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a delta from `wire_delta` onto the previous wire sample."""
    merged = dict(previous)
    for key, value in delta.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def make_frame(
    kind: str,
    node: str,
    seq: int,
    ts: float,
    cards: Iterable[Mapping[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """Build a stream frame (``snapshot`` holds whole samples, ``tick`` holds deltas)."""
    if kind not in FRAME_KINDS:
        raise ValueError(f"unknown frame kind {kind!r}")
    return {
        "v": WIRE_VERSION,
        "kind": kind,
        "node": node,
        "seq": seq,
        "ts": ts,
        "cards": list(cards),
        **extra,
    }


def parse_frame(text: str | bytes) -> dict[str, Any]:
    """Parse and check a frame's envelope (version, kind, node, seq, ts, cards list)."""
    if len(text) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(text)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    try:
        frame = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise WireError("frame must be a JSON object")
    check_version(frame.get("v"))
    if frame.get("kind") not in FRAME_KINDS:
        raise WireError(f"unknown frame kind {frame.get('kind')!r}")
    _decode_value("node", "str", frame.get("node"))
    _decode_value("seq", "int", frame.get("seq"))
    _decode_value("ts", "float", frame.get("ts"))
    cards = frame.get("cards")
    if not isinstance(cards, list) or not all(isinstance(c, dict) for c in cards):
        raise WireError("frame 'cards' must be a list of objects")
    return frame


def check_version(version: Any) -> None:
    """Refuse objects of another major wire version (the client shows 'version mismatch')."""
    if version != WIRE_VERSION:
        raise WireVersionError(
            f"wire version {version!r} is not supported (this build speaks {WIRE_VERSION})"
        )


class WireVersionError(WireError):
    """The peer speaks another wire version."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def dumps(obj: Any) -> str:
    """Compact JSON as sent on the wire (no NaN: non-finite numbers never reach the wire)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def status_to_wire(status: CollectorStatus) -> dict[str, Any]:
    """A collector's status as sent in frames, /v1/info and /healthz."""
    return {k: v for k, v in asdict(status).items() if v is not None}


def status_from_wire(obj: Any) -> CollectorStatus:
    """Decode and validate a collector status object."""
    if not isinstance(obj, Mapping):
        raise WireError("collector status must be an object")
    kinds = {"name": "str", "ok": "bool", "cards": "int", "duration_s": "float", "ts": "float"}
    missing = [k for k in kinds if obj.get(k) is None]
    if missing:
        raise WireError(f"collector status lacks {', '.join(missing)}")
    values = {k: _decode_value(k, kind, obj[k]) for k, kind in kinds.items()}
    values["error"] = _decode_value("error", "str", obj.get("error"))
    values["since_ts"] = _decode_value("since_ts", "float", obj.get("since_ts"))
    return CollectorStatus(**values)
