"""Cross-check: Prometheus node_exporter, run on loopback over the same fixture trees, reads the same temps."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cardwatch.collectors.sysfs import SysfsCollector
from cardwatch.model import CardSample

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"
BINARY = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
STARTUP_LIMIT_S = 20.0
METRIC = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")

pytestmark = pytest.mark.skipif(BINARY is None, reason="node_exporter is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Exposition lines -> {(metric, labels): value}."""
    metrics = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            metrics[(match.group(1), labels)] = float(match.group(3))
    return metrics


async def _scrape(board: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Run node_exporter 127.0.0.1-only against one fixture tree and scrape it once."""
    assert BINARY is not None
    port = _free_port()
    args = [
        BINARY,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--path.sysfs={FIXTURES / board / 'sys'}",
        "--collector.disable-defaults",
        "--collector.hwmon",
        "--collector.thermal_zone",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return _parse(await _fetch_when_up(f"http://127.0.0.1:{port}/metrics", process))
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _fetch_when_up(url: str, process: subprocess.Popen[bytes]) -> str:
    async with aiohttp.ClientSession() as session:
        async for _ in _attempts():
            assert process.poll() is None, "node_exporter exited"
            try:
                async with session.get(url) as response:
                    return await response.text()
            except aiohttp.ClientConnectionError:
                continue
    raise AssertionError("node_exporter did not answer")


async def _attempts() -> AsyncIterator[int]:
    for attempt in range(int(STARTUP_LIMIT_S / 0.1)):
        yield attempt
        await asyncio.sleep(0.1)


def _value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    [value] = [v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= ls]
    return value


def _cards(board: str) -> dict[str, CardSample]:
    return {
        s.bus_id or s.model or "": s for s in SysfsCollector(node="n", sysfs=FIXTURES / board / "sys").read()
    }


async def test_devfreq_card_temps_match_node_exporter_zones() -> None:
    metrics = await _scrape("rk3588")
    cards = _cards("rk3588")
    for bus_id, zone_type in (("fb000000.gpu", "gpu-thermal"), ("fdab0000.npu", "npu-thermal")):
        expected = _value(metrics, "node_thermal_zone_temp", type=zone_type)
        assert math.isclose(cards[bus_id].temp_c, expected)
    assert _value(metrics, "node_cooling_device_cur_state", type="devfreq-fdab0000.npu") > 0
    assert "sysfs:cooling_device" in (cards["fdab0000.npu"].throttle or ())


async def test_soc_card_temp_matches_node_exporter_zone() -> None:
    metrics = await _scrape("th1520")
    [card] = _cards("th1520").values()
    expected = _value(metrics, "node_thermal_zone_temp", type="cpu-thermal-zone")
    assert math.isclose(card.temp_c, expected)


async def test_amdgpu_readings_match_node_exporter_hwmon() -> None:
    metrics = await _scrape("amdgpu")
    [gpu] = _cards("amdgpu").values()
    hwmon = {"chip": "amdgpu"}
    assert math.isclose(gpu.temp_c, _value(metrics, "node_hwmon_temp_celsius", sensor="temp2", **hwmon))
    assert math.isclose(gpu.mem_temp_c, _value(metrics, "node_hwmon_temp_celsius", sensor="temp3", **hwmon))
    assert math.isclose(gpu.power_w, _value(metrics, "node_hwmon_power_average_watt", **hwmon))
    assert math.isclose(gpu.power_limit_w, _value(metrics, "node_hwmon_power_cap_watt", **hwmon))
