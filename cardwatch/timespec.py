"""Points in time as users type them: ISO 8601 (``2026-11-23T18:00Z``) or relative (``-2h``, ``30m``).

A relative time counts back from now (``2h`` and ``-2h`` both mean two hours ago); ``now`` is now. An ISO
time without a zone is UTC. Anything else is a usage error that shows the accepted forms.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import click

UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FORMS: Final = "use ISO 8601 (2026-11-23T18:00:00Z) or a time ago like -2h, 30m, 90s, 7d, 2w"
_RELATIVE: Final = re.compile(r"-?(\d+(?:\.\d+)?)([smhdw])")


def parse_time(text: str, now: float) -> float:
    """Unix seconds for `text`; `ValueError` naming the accepted forms when it is neither form."""
    text = text.strip()
    if text == "now":
        return now
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - float(relative[1]) * UNIT_S[relative[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: {FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class TimeParam(click.ParamType):
    """A click option value parsed by `parse_time` (bad input exits 2 with the accepted forms)."""

    name = "TIME"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Parse the option's text into Unix seconds."""
        if isinstance(value, float):
            return value
        try:
            return parse_time(str(value), self.clock())
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def check_range(since_ts: float | None, until_ts: float | None) -> None:
    """Refuse an empty or backwards range as a usage error."""
    if since_ts is not None and until_ts is not None and since_ts >= until_ts:
        raise click.BadParameter(
            f"--since ({_iso(since_ts)}) must be before --until ({_iso(until_ts)})",
            param_hint="'--since'",
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
