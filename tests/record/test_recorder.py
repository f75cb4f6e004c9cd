"""The recorder against real agents on 127.0.0.1: every sample, health change and event, and agent restarts."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from cardwatch.agent.app import create_app
from cardwatch.cli import cli
from cardwatch.collectors.sim import SimCollector
from cardwatch.export_source import Selection, db_samples
from cardwatch.fleetfile import AgentSpec
from cardwatch.model import CardSample
from cardwatch.record import Recorder, card_events
from cardwatch.record_store import RecordStore, open_database
from cardwatch.store import SampleStore
from cardwatch.wire import dumps, make_frame, parse_frame, sample_from_wire, sample_to_wire

from .conftest import (
    FAST,
    INTERVAL_S,
    T0,
    KeptSim,
    ServerFactory,
    free_port,
    read_csv_samples,
    start_agent,
    wait_for,
)


def _recorder(urls: list[str], db: Path) -> Recorder:
    store = RecordStore(db)
    return Recorder(
        [AgentSpec(u) for u in urls], store, interval_s=INTERVAL_S, flush_every_s=0.1, backoff=FAST
    )


async def _stop(recorder: Recorder, task: asyncio.Task[None]) -> None:
    recorder.stop()
    await asyncio.wait_for(task, 10)
    recorder.store.close()


def _by_card(samples: list[CardSample]) -> dict[str, list[CardSample]]:
    out: dict[str, list[CardSample]] = {}
    for sample in samples:
        out.setdefault(sample.key, []).append(sample)
    return out


async def test_every_sample_health_change_and_vendor_event_is_recorded(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    gpu, gpu_sim, _ = await start_agent(aiohttp_server, "gpu-a", scenarios={1: "thermal", 2: "lost"})
    npu, npu_sim, _ = await start_agent(aiohttp_server, "npu-b", profile="ascend-910b", scenarios={0: "lost"})
    recorder = _recorder([gpu, npu], tmp_path / "f.db")
    task = asyncio.create_task(recorder.run())
    try:
        await wait_for(lambda: recorder.totals.samples >= 2 * 4 * 12 and recorder.totals.health_events >= 3)
    finally:
        await _stop(recorder, task)
    db = open_database(tmp_path / "f.db")
    recorded = list(db_samples(db, Selection()))
    produced = {(s.key, s.ts): s for s in gpu_sim.produced + npu_sim.produced}
    assert all(produced[(s.key, s.ts)] == s for s in recorded)
    for key, samples in _by_card(recorded).items():
        served = [s for s in gpu_sim.produced + npu_sim.produced if s.key == key]
        first = served.index(samples[0])
        assert samples == served[first : first + len(samples)], f"{key}: a sample was skipped or repeated"
    assert sorted(r["key"] for r in db["cards"].rows) == [
        f"{n}/{i}" for n in ("gpu-a", "npu-b") for i in range(4)
    ]
    assert {r["node"]: r["agent_url"] for r in db["nodes"].rows} == {"gpu-a": gpu, "npu-b": npu}
    raised = {(r["key"], r["level"]) for r in db["health_events"].rows_where("kind = 'raised'")}
    assert ("gpu-a/2", "failed") in raised and ("npu-b/0", "failed") in raised
    assert any(key == "gpu-a/1" and level in ("watch", "degraded") for key, level in raised)
    events = {(r["kind"], r["subject"], r["code"]) for r in db["events"].rows}
    assert ("xid", "gpu-a/2", "79") in events
    assert ("vendor_health", "npu-b/0", "UNKNOWN") in events
    assert {("agent", gpu, "live"), ("agent", npu, "live")} <= events


async def test_agent_going_away_and_coming_back(
    agent_process: Callable[[int], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    recorder = _recorder([url], tmp_path / "f.db")
    first = agent_process(port)
    task = asyncio.create_task(recorder.run())
    try:
        await wait_for(lambda: recorder.totals.samples >= 4 * 8)
        first.kill()
        first.wait(timeout=10)
        await wait_for(lambda: recorder.totals.health_events >= 8)
        gone_at = recorder.fleet.agent(url).data_ts or 0.0
        agent_process(port)
        await wait_for(lambda: recorder.totals.health_events >= 16)
    finally:
        await _stop(recorder, task)
    db = open_database(tmp_path / "f.db")
    agent_codes = [r["code"] for r in db["events"].rows_where("kind = 'agent'", order_by="id")]
    seen = agent_codes[agent_codes.index("live") :]
    assert "down" in seen and seen[-1] == "live"
    stale = [
        (r["kind"], r["key"]) for r in db["health_events"].rows_where("code = 'STALE_AGENT'", order_by="id")
    ]
    cards = {f"proc-node/{i}" for i in range(8)}
    assert {key for kind, key in stale if kind == "raised"} == cards
    assert {key for kind, key in stale if kind == "cleared"} == cards
    after = list(db_samples(db, Selection(since_ts=gone_at + 1e-6)))
    assert {s.key for s in after} == cards


async def test_recorded_run_exports_to_csv_and_sqlite_with_every_value(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    url, sim, _ = await start_agent(aiohttp_server, "gpu-a", scenarios={3: "ecc_storm", 2: "lost"})
    recorder = _recorder([url], tmp_path / "f.db")
    task = asyncio.create_task(recorder.run())
    try:
        await wait_for(lambda: recorder.totals.samples >= 4 * 5)
    finally:
        await _stop(recorder, task)
    recorded = list(db_samples(open_database(tmp_path / "f.db"), Selection()))
    served = {(s.key, s.ts): s for s in sim.produced}
    assert len(recorded) == recorder.totals.samples and all(served[(s.key, s.ts)] == s for s in recorded)
    for fmt in ("csv", "sqlite"):
        result = CliRunner().invoke(
            cli,
            ["export", "--db", str(tmp_path / "f.db"), "--format", fmt, "--out", str(tmp_path / f"f.{fmt}")],
        )
        assert result.exit_code == 0, result.output
    back = read_csv_samples(tmp_path / "f.csv")
    assert [replace(s, ts=0.0) for s in back] == [replace(s, ts=0.0) for s in recorded]
    assert all(0 <= r.ts - b.ts < 0.001 for r, b in zip(recorded, back, strict=True))
    assert list(db_samples(open_database(tmp_path / "f.sqlite"), Selection())) == recorded


async def test_export_from_an_agents_history(aiohttp_server: ServerFactory, tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "agent.db")
    sim = KeptSim(node="gpu-h", cards=3)
    server = await aiohttp_server(
        create_app([sim], interval_s=0.05, node="gpu-h", store=store), host="127.0.0.1"
    )
    await wait_for(lambda: len(sim.produced) >= 3 * 12)
    await asyncio.to_thread(store.flush)
    assert len(store.query(key="gpu-h/1").samples) >= 10
    url = str(server.make_url("")).rstrip("/")
    out = tmp_path / "h.jsonl"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["export", "--agent", url, "--format", "jsonl", "--card", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    back = [sample_from_wire(json.loads(line)) for line in out.read_text().splitlines()]
    stored = store.query(key="gpu-h/1", limit=10_000).samples
    assert len(back) >= 10 and back == stored[: len(back)], (len(back), len(stored))


def _snapshot(samples: list[CardSample]) -> dict[str, object]:
    frame = make_frame("snapshot", samples[0].node, 0, samples[0].ts, [sample_to_wire(s) for s in samples])
    return parse_frame(dumps({**frame, "interval_s": 1.0}))


def test_frames_an_agent_dropped_are_recorded_as_a_gap(tmp_path: Path) -> None:
    url = "http://gpu-a:9464"
    recorder = Recorder([AgentSpec(url)], RecordStore(tmp_path / "f.db"))
    snapshot = _snapshot(SimCollector(node="gpu-a", cards=2, clock=lambda: T0).read())
    assert recorder.fleet.apply_frame(url, {**snapshot, "dropped": 7}, T0) is None
    recorder.collect(T0)
    recorder.store.close()
    events = open_database(tmp_path / "f.db")["events"].rows_where("code = 'dropped'")
    assert ["7 frames" in e["message"] for e in events] == [True]


def test_a_sample_seen_twice_is_written_once(tmp_path: Path) -> None:
    url = "http://gpu-a:9464"
    recorder = Recorder([AgentSpec(url)], RecordStore(tmp_path / "f.db"))
    sim = SimCollector(node="gpu-a", cards=2, clock=lambda: T0)
    first = _snapshot(sim.read())
    assert recorder.fleet.apply_frame(url, first, T0) is None
    assert recorder.fleet.apply_frame(url, first, T0 + 1) is None
    recorder.collect(T0 + 1)
    assert recorder.store.flush() == 2
    recorder.store.close()


def test_vendor_events_of_a_card() -> None:
    base = SimCollector(node="npu", profile="ascend-910b", cards=1).read()[0]
    coded = replace(base, ts=base.ts + 1, error_codes=("0x80E18402",), vendor_health="Alarm", xids=(79,))
    cleared = replace(coded, ts=base.ts + 2, error_codes=(), xids=())
    assert [(e.kind, e.code) for e in card_events(None, base)] == [("vendor_health", base.vendor_health)]
    assert [(e.kind, e.code) for e in card_events(base, coded)] == [
        ("xid", "79"),
        ("error_codes", "0x80E18402"),
        ("vendor_health", "Alarm"),
    ]
    assert [(e.kind, e.code, e.message) for e in card_events(coded, cleared)] == [
        ("error_codes", None, "error codes cleared")
    ]
    assert card_events(cleared, replace(cleared, ts=base.ts + 3)) == []
