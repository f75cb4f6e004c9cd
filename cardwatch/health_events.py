"""Rules for what the vendor itself reports: NVIDIA Xids, Ascend health, and whether the card answered."""

from __future__ import annotations

from typing import Final, NamedTuple

from cardwatch.health_config import HealthConfig
from cardwatch.health_types import Action, Finding, Level
from cardwatch.health_window import CardWindow
from cardwatch.model import CardSample, CardState


class XidMeaning(NamedTuple):
    """What an Xid means and what to do about it (NVIDIA's Xid catalog, gpud's repair actions)."""

    name: str
    level: Level
    action: Action
    sticky: bool = False


XIDS: Final[dict[int, XidMeaning]] = {
    13: XidMeaning("graphics engine exception (usually the application)", Level.WATCH, Action.WATCH),
    31: XidMeaning("GPU memory page fault (usually the application)", Level.WATCH, Action.WATCH),
    43: XidMeaning("GPU stopped processing (application fault, channel reset)", Level.WATCH, Action.WATCH),
    45: XidMeaning("preemptive cleanup after an earlier error", Level.WATCH, Action.NONE),
    48: XidMeaning("double-bit ECC error", Level.FAILED, Action.DRAIN_RESET, True),
    61: XidMeaning("internal micro-controller breakpoint/warning", Level.DEGRADED, Action.DRAIN_RESET),
    62: XidMeaning("internal micro-controller halt", Level.FAILED, Action.DRAIN_RESET, True),
    63: XidMeaning("ECC page retirement or row remap recorded", Level.DEGRADED, Action.DRAIN_RESET),
    64: XidMeaning(
        "ECC page retirement or row remap recording failed", Level.FAILED, Action.DRAIN_RESET, True
    ),
    68: XidMeaning("video decoder (NVDEC) exception", Level.WATCH, Action.WATCH),
    74: XidMeaning("NVLink error", Level.DEGRADED, Action.DRAIN_RESET),
    79: XidMeaning("GPU has fallen off the bus", Level.FAILED, Action.REBOOT_NODE, True),
    92: XidMeaning("high single-bit ECC error rate", Level.WATCH, Action.WATCH),
    94: XidMeaning("contained ECC error (affected application killed)", Level.DEGRADED, Action.DRAIN_RESET),
    95: XidMeaning(
        "uncontained ECC error (all applications on the GPU affected)", Level.FAILED, Action.DRAIN_RESET, True
    ),
    119: XidMeaning("GSP RPC timeout", Level.FAILED, Action.DRAIN_RESET, True),
    120: XidMeaning("GSP error", Level.FAILED, Action.DRAIN_RESET, True),
}
"""Xid -> meaning; levels follow the repair each needs (reset, reboot) rather than how loud the log is."""

UNKNOWN_XID: Final = XidMeaning(
    "not in cardwatch's Xid table: look it up in NVIDIA's Xid catalog", Level.WATCH, Action.WATCH
)

ASCEND_HEALTH: Final[dict[str, tuple[str, Level, Action, bool]]] = {
    "warning": ("ASCEND_WARNING", Level.WATCH, Action.WATCH, False),
    "alarm": ("ASCEND_ALARM", Level.DEGRADED, Action.DRAIN_RESET, False),
    "critical": ("ASCEND_CRITICAL", Level.FAILED, Action.DRAIN_RESET, True),
}
"""npu-smi health (DCMI minor/major/critical alarm) -> code, level, action, sticky."""


def card_state(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """A card that fell off the bus is gone until the node reboots; a failed read says nothing about health."""
    if s.state is CardState.LOST:
        msg = f"card lost: {s.state_reason or 'no reason given'}"
        out.append(Finding("CARD_LOST", Level.FAILED, msg, Action.REBOOT_NODE, True, True))
    elif s.state is CardState.ERROR:
        msg = f"card could not be read: {s.state_reason or 'no reason given'}"
        out.append(Finding("CARD_READ_ERROR", Level.UNKNOWN, msg, Action.WATCH, immediate=True))
    elif s.state is CardState.STALE:
        out.append(stuck_finding(s.state_reason or "collector missed its deadline", s.ts, w, cfg))


def stuck_finding(reason: str, now: float, w: CardWindow, cfg: HealthConfig) -> Finding:
    """A collector stuck past its deadline is unknown at first; stuck for long, it usually is a hung card."""
    start = w.last_ok_ts if w.last_ok_ts is not None else w.first_ts
    stuck_s = now - start if start is not None else 0.0
    if stuck_s >= cfg.stuck_degraded_s > 0:
        msg = f"collector stuck for {stuck_s:.0f} s ({reason}): a hung driver call often means a hung card"
        return Finding("COLLECTOR_STUCK", Level.DEGRADED, msg, Action.REBOOT_NODE, immediate=True)
    return Finding(
        "COLLECTOR_STUCK", Level.UNKNOWN, f"collector stuck: {reason}", Action.WATCH, immediate=True
    )


def xids(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Each Xid seen within the hold time stays a reason, so a one-off event is not gone the next second."""
    if not w.events:
        return
    for xid, last_ts in sorted(w.events.items()):
        if s.ts - last_ts > cfg.event_hold_s:
            del w.events[xid]
            continue
        meaning = XIDS.get(xid, UNKNOWN_XID)
        msg = f"Xid {xid}: {meaning.name}"
        out.append(Finding(f"XID_{xid}", meaning.level, msg, meaning.action, meaning.sticky, True))


def ascend_health(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """The Ascend driver's own verdict, with its error codes; `UNKNOWN` health is left to `card_state`."""
    verdict = ASCEND_HEALTH.get((s.vendor_health or "").lower())
    if verdict is None:
        return
    code, level, action, sticky = verdict
    codes = " ".join(s.error_codes) or "none"
    detail = f": {s.vendor_health_detail}" if s.vendor_health_detail else ""
    msg = f"npu-smi health {s.vendor_health}, error codes {codes}{detail}"
    out.append(Finding(code, level, msg, action, sticky, True))


EVENT_RULES = (card_state, xids, ascend_health)
"""Rules on vendor events and card state; they run even for a card that did not answer."""
