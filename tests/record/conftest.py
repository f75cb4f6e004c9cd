"""Recorder and export tests: real agents on 127.0.0.1 (sim collector), samples of every kind, a CSV reader."""

from __future__ import annotations

import asyncio
import csv
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from cardwatch.agent.app import create_app
from cardwatch.client import Backoff
from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.model import FIELD_KINDS, CardSample, CardState

INTERVAL_S = 0.2
FAST = Backoff(first_s=0.05, max_s=0.3)
T0 = 1_800_000_000.123456
ServerFactory = Callable[..., Awaitable[TestServer]]


class KeptSim(SimCollector):
    """A sim collector that keeps every sample it served, so a test knows what the agent produced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.produced: list[CardSample] = []

    def read(self) -> list[CardSample]:
        samples = super().read()
        self.produced.extend(samples)
        return samples


async def start_agent(
    aiohttp_server: ServerFactory, node: str, port: int | None = None, **sim: Any
) -> tuple[str, KeptSim, TestServer]:
    """A real agent on 127.0.0.1 serving a `KeptSim`; returns its base URL, the collector and the server."""
    collector = KeptSim(node=node, cards=4, **sim)
    app = create_app([collector], interval_s=INTERVAL_S, node=node)
    server = await aiohttp_server(app, host="127.0.0.1", port=port)
    return str(server.make_url("")).rstrip("/"), collector, server


async def wait_for(done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll until `done()`; fails the test after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not done():
            await asyncio.sleep(0.02)


def free_port() -> int:
    """An ephemeral loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def agent_process() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `cardwatch agent` processes (sim collector, loopback); kills any still running at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int, node: str = "proc-node") -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "cardwatch", "agent", "--listen", f"127.0.0.1:{port}"]
        argv += ["--interval", str(INTERVAL_S), "--collector", "sim", "--node", node]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def varied_samples(ticks: int = 4) -> list[CardSample]:
    """Every sim scenario on NVIDIA and Ascend profiles for a few ticks, plus a sample with every odd value."""
    out: list[CardSample] = []
    for profile in ("nvidia-h100", "ascend-910b", "riscv-th1520"):
        clock = iter(T0 + i for i in range(ticks))
        sim = SimCollector(
            node=f"n-{profile}",
            profile=profile,
            cards=len(SCENARIOS),
            scenarios=dict(enumerate(SCENARIOS)),
            clock=lambda clock=clock: next(clock),
        )
        out.extend(s for _ in range(ticks) for s in sim.read())
    odd = replace(
        out[0],
        index=99,
        ts=T0 + 0.000123,
        throttle=frozenset(),
        xids=(79, 48),
        error_codes=("0x80E18402", "0x80CB8009"),
        field_errors={"power_w": "not supported", "fan_pct": "timeout"},
        state=CardState.ERROR,
        state_reason="read failed, will retry",
        remap_pending=True,
        temp_c=-0.5,
        power_w=None,
    )
    return [*out, odd]


def read_csv_samples(path: Path) -> list[CardSample]:
    """Decode an export CSV back into samples (the reader a user's script would write)."""
    with path.open(newline="", encoding="utf-8") as f:
        return [_sample(row) for row in csv.DictReader(f)]


def _sample(row: dict[str, str]) -> CardSample:
    values: dict[str, Any] = {"ts": datetime.fromisoformat(row["time_utc"]).timestamp()}
    for name, text in row.items():
        kind = FIELD_KINDS.get(name)
        if kind is not None and name != "ts" and text != "":
            values[name] = _CELL[kind](text)
    return CardSample(**values)


def _strmap(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(";"))


_CELL: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": lambda t: {"true": True, "false": False}[t],
    "state": CardState,
    "strset": lambda t: frozenset() if t == "none" else frozenset(t.split(";")),
    "ints": lambda t: tuple(int(x) for x in t.split(";")),
    "strs": lambda t: tuple(t.split(";")),
    "strmap": _strmap,
}
