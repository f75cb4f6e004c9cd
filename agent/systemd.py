"""systemd integration: sd_notify READY/WATCHDOG over $NOTIFY_SOCKET, and `cardwatch agent install`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cardwatch.agent import units

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send one sd_notify message (``READY=1``, ``WATCHDOG=1``); False when not run by systemd."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", environ["NOTIFY_SOCKET"], exc)
        return False
    return True


def watchdog_period_s(environ: Mapping[str, str] = os.environ) -> float | None:
    """How often to ping the watchdog (half of WatchdogSec=), or None when systemd does not watch us."""
    usec, pid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def watchdog_ctx(alive: Callable[[], bool]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that pings the watchdog while `alive()` holds, so a stuck agent gets restarted."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        period_s = watchdog_period_s()
        task = asyncio.create_task(_ping_forever(alive, period_s)) if period_s else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


async def _ping_forever(alive: Callable[[], bool], period_s: float) -> None:
    while True:
        if alive():
            notify("WATCHDOG=1")
        await asyncio.sleep(period_s)


@dataclass(frozen=True, slots=True)
class InstallStep:
    """One file `install` writes (or leaves alone because the admin already has one)."""

    path: Path
    text: str
    keep_existing: bool = False


def install_plan(root: Path, cardwatch_bin: str) -> list[InstallStep]:
    """The files that make the agent a systemd service, under `root` (``/`` for a real install)."""
    return [
        InstallStep(root / "etc/systemd/system" / units.UNIT_NAME, units.render_unit(cardwatch_bin)),
        InstallStep(root / "etc/sysusers.d/cardwatch.conf", units.SYSUSERS),
        InstallStep(root / "etc/tmpfiles.d/cardwatch.conf", units.TMPFILES),
        InstallStep(root / "etc/cardwatch/agent.toml", units.AGENT_TOML, keep_existing=True),
    ]


def install(steps: list[InstallStep]) -> list[str]:
    """Write the planned files; returns one line per file saying what happened."""
    done = []
    for step in steps:
        if step.keep_existing and step.path.exists():
            done.append(f"kept     {step.path} (already there)")
            continue
        step.path.parent.mkdir(parents=True, exist_ok=True)
        step.path.write_text(step.text, encoding="utf-8")
        done.append(f"wrote    {step.path}")
    return done
