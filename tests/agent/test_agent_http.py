"""HTTP endpoints on a real 127.0.0.1 server: snapshot, info, healthz, history, metrics, errors."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from agent_helpers import CounterCollector, HangingCollector, card

from cardwatch.agent import metrics
from cardwatch.agent.app import create_app
from cardwatch.collectors import CollectorStatus
from cardwatch.collectors.sim import LOST_AFTER_TICKS, PROFILES, SCENARIOS, SimCollector
from cardwatch.store import SampleStore
from cardwatch.wire import sample_from_wire, status_from_wire


def sim_app(**kwargs):
    return create_app(
        [SimCollector(node="n1", cards=8, seed=1, scenarios={3: "thermal"})], node="n1", **kwargs
    )


async def test_snapshot_has_every_card_in_wire_form(aiohttp_client) -> None:
    client = await aiohttp_client(sim_app(interval_s=0.05))
    resp = await client.get("/v1/snapshot")
    assert resp.status == 200
    body = await resp.json()
    assert body["v"] == 1 and body["node"] == "n1"
    samples = [sample_from_wire(c) for c in body["cards"]]
    assert [s.index for s in samples] == list(range(8))
    assert samples[3].throttle and "hw_thermal" in samples[3].throttle
    assert [status_from_wire(s).name for s in body["collectors"]] == ["sim"]


async def test_info_lists_identity_not_readings(aiohttp_client) -> None:
    client = await aiohttp_client(sim_app(interval_s=0.5))
    body = await (await client.get("/v1/info")).json()
    assert body["node"] == "n1" and body["interval_s"] == 0.5 and body["version"]
    assert body["cards"][0].keys() == {"index", "uuid", "model", "vendor", "bus_id"}
    assert body["collectors"][0]["ok"] is True


async def test_healthz_reports_failing_collector_but_stays_alive(aiohttp_client) -> None:
    hanging = HangingCollector()
    client = await aiohttp_client(create_app([hanging], interval_s=0.02, tick_deadline_s=0.05, node="n1"))
    try:
        for _ in range(200):
            body = await (await client.get("/healthz")).json()
            if not body["collectors_ok"]:
                break
            await asyncio.sleep(0.02)
        resp = await client.get("/healthz")
        body = await resp.json()
        assert resp.status == 200 and body["alive"] and not body["collectors_ok"]
        assert "deadline" in body["collectors"][0]["error"]
        snap = await (await client.get("/v1/snapshot")).json()
        assert {c["state"] for c in snap["cards"]} == {"stale"}
        assert all("deadline" in c["state_reason"] for c in snap["cards"])
    finally:
        hanging.release.set()


async def test_unknown_paths_and_methods_answer_json_errors(aiohttp_client) -> None:
    client = await aiohttp_client(sim_app())
    resp = await client.get("/v1/nothing")
    assert resp.status == 404 and "error" in await resp.json()
    resp = await client.post("/v1/snapshot")
    assert resp.status == 405 and "error" in await resp.json()
    resp = await client.delete("/v1/history")
    assert resp.status == 405


async def test_size_limits(aiohttp_client) -> None:
    client = await aiohttp_client(sim_app())
    resp = await client.get("/v1/snapshot", data=b"x" * 100)
    assert resp.status == 413
    resp = await client.get("/v1/history?card=" + "1" * 3000)
    assert resp.status in (400, 414)
    resp = await client.get("/v1/snapshot", headers={"X-Big": "y" * 20000})
    assert resp.status == 400


async def test_history_is_paginated_and_filtered(aiohttp_client, tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "h.db")
    counter = CounterCollector(cards=3)
    client = await aiohttp_client(
        create_app([counter], interval_s=0.01, tick_deadline_s=5, node="n1", store=store)
    )
    for _ in range(500):
        if counter.reads >= 6 and store.pending == 0:
            break
        await asyncio.sleep(0.02)
    seen, after = [], ""
    for _ in range(100):
        body = await (await client.get(f"/v1/history?card=1&limit=2&after={after}")).json()
        seen.extend(sample_from_wire(s) for s in body["samples"])
        if body["next"] is None:
            break
        after = body["next"]
    assert len(seen) >= 6 and {s.index for s in seen} == {1}
    assert [s.energy_j for s in seen] == sorted(s.energy_j for s in seen)
    cut = seen[2].ts
    body = await (await client.get(f"/v1/history?card=1&until={cut}&limit=1000")).json()
    assert all(s["ts"] < cut for s in body["samples"]) and len(body["samples"]) >= 2


async def test_history_bad_parameters_and_off(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(sim_app(store=SampleStore(tmp_path / "h.db")))
    for query in ("since=yesterday", "card=-1", "limit=many", "until=nan"):
        resp = await client.get(f"/v1/history?{query}")
        assert resp.status == 400, query
        assert "error" in await resp.json()
    off = await aiohttp_client(sim_app())
    resp = await off.get("/v1/history")
    assert resp.status == 404 and "--db" in (await resp.json())["error"]


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed"
)
async def test_metrics_pass_promtool_and_match_the_snapshot(aiohttp_client) -> None:
    app = create_app(
        [
            SimCollector(
                node="n1", cards=4, seed=1, scenarios={1: "thermal", 2: "ecc_storm"}, profile="nvidia-h100"
            ),
            CounterCollector(cards=1, first_index=8),
        ],
        node="n1",
        interval_s=60,
    )
    client = await aiohttp_client(app)
    resp = await client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    snap = await (await client.get("/v1/snapshot")).json()
    temp = next(c for c in snap["cards"] if c["index"] == 1)["temp_c"]
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("cardwatch_card_temperature_celsius{") and 'card="1"' in ln and 'sensor="core"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) == temp
    assert 'reason="hw_thermal"' in text and "cardwatch_card_ecc_errors_total{" in text
    assert 'cardwatch_collector_success{collector="sim"} 1.0' in text
    assert 'cardwatch_collector_success{collector="counter"} 1.0' in text
    card_8 = [ln for ln in text.splitlines() if 'card="8"' in ln]
    assert any(ln.startswith("cardwatch_card_energy_joules_total{") for ln in card_8)
    assert not any(ln.startswith("cardwatch_card_power_watts{") for ln in card_8)  # unknown: no series, not 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_metrics_for_every_sim_profile_and_scenario_pass_promtool() -> None:
    cards, statuses = {}, []
    for offset, profile in enumerate(PROFILES):
        sim = SimCollector(
            node="n1", profile=profile, cards=len(SCENARIOS), scenarios=dict(enumerate(SCENARIOS))
        )
        for _ in range(LOST_AFTER_TICKS + 1):
            samples = sim.read()
        cards.update({offset * 100 + s.index: replace(s, index=offset * 100 + s.index) for s in samples})
        statuses.append(CollectorStatus(f"sim-{profile}", True, len(samples), 0.01, 1.0))
    text = metrics.render(cards, statuses).decode()
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'reason="sysfs:cooling_device"' in text and 'state="lost"' in text and 'health="Warning"' in text


async def test_agent_prunes_history_older_than_retention(aiohttp_client, tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "h.db")
    store.add([card(0, node="n1", ts=1000.0)])
    store.flush()
    await aiohttp_client(sim_app(interval_s=0.05, store=store, retention_s=3600))
    for _ in range(500):
        if not store.query(until_ts=2000.0).samples and store.query(key="n1/0").samples:
            break
        await asyncio.sleep(0.02)
    assert store.query(until_ts=2000.0).samples == []
    assert {s.ts > 2000.0 for s in store.query(key="n1/0").samples} == {True}
