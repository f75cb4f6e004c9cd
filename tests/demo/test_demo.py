"""`cardwatch demo`: the planned fleet, and the headless agents as a user starts them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from cardwatch.demo import BROKEN, plan_fleet
from cardwatch.fleetfile import load_fleet_file
from cardwatch.wire import parse_frame, sample_from_wire


def test_plan_mixes_vendors_and_spreads_every_scenario() -> None:
    plan = plan_fleet(64, 8, seed=1)
    assert Counter(n.profile for n in plan) == {"nvidia-h100": 40, "ascend-910b": 16, "riscv-th1520": 8}
    placed = Counter(s for n in plan for s in n.scenarios.values())
    assert placed == {s: 4 for s in BROKEN}
    assert len({n.name for n in plan}) == 64 and len({n.rack for n in plan}) == 8


def test_plan_is_deterministic_per_seed() -> None:
    assert plan_fleet(32, 8, seed=3) == plan_fleet(32, 8, seed=3)
    assert plan_fleet(32, 8, seed=3) != plan_fleet(32, 8, seed=4)


def test_plan_honours_the_chosen_scenarios() -> None:
    plan = plan_fleet(16, 4, seed=1, scenarios=["thermal"])
    assert {s for n in plan for s in n.scenarios.values()} == {"thermal"}


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "demo exited"
        assert time.monotonic() < deadline, "demo agents did not start"
        time.sleep(0.05)


async def _first_frames(url: str) -> list[dict]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.ws_connect(f"{url}/v1/stream") as ws,
    ):
        return [parse_frame((await ws.receive()).data) for _ in range(2)]


@pytest.mark.timeout(60)
def test_headless_demo_serves_every_node_and_stops_on_sigterm(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cardwatch",
            "demo",
            "--headless",
            "--nodes",
            "8",
            "--cards",
            "4",
            "--interval",
            "0.2",
            "--fleet-out",
            str(fleet_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(fleet_file, proc)
        specs = load_fleet_file(fleet_file)
        assert len(specs) == 8
        assert all(spec.url.startswith("http://127.0.0.1:") for spec in specs)
        assert {spec.groups["rack"] for spec in specs} == {"rack-01"}
        snapshot, tick = asyncio.run(_first_frames(specs[0].url))
        assert snapshot["kind"] == "snapshot" and tick["kind"] == "tick"
        assert [sample_from_wire(c).index for c in snapshot["cards"]] == [0, 1, 2, 3]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
