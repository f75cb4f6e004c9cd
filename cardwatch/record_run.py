"""Running recorders: one in this process, or the agents sharded over worker processes, one database.

Merging streams and judging health are CPU-bound Python, so one process keeps up with a few thousand
cards at 1 Hz; `--workers N` splits the agents over N processes (this one included) that each run a
`Recorder` and write their own batches to the same WAL database. Health peer groups (per-model medians)
are then computed per worker. A worker stops on SIGINT/SIGTERM, and by itself when its parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from cardwatch.fleetfile import AgentSpec
from cardwatch.record import Recorder
from cardwatch.record_store import RecordStore, StoreError

PARENT_CHECK_S: Final = 1.0
StopCheck = Callable[[], str | None]
STOP_WAIT_S: Final = 15.0
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"

log = logging.getLogger("cardwatch.record")


class WorkerFailed(Exception):
    """A worker process ended with an error (it logged the reason)."""


def run_recorders(specs: Sequence[AgentSpec], db_path: Path, interval_s: float, workers: int = 1) -> None:
    """Record `specs` into `db_path` until SIGINT/SIGTERM, over `workers` processes; raises on failure."""
    shards = [list(specs[n::workers]) for n in range(min(workers, len(specs)))]
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    children = [
        context.Process(
            target=_child, args=(shard, db_path, interval_s, os.getpid(), level), name=f"recorder-{n}"
        )
        for n, shard in enumerate(shards[1:], start=1)
    ]
    for child in children:
        child.start()
    try:
        record_shard(shards[0], db_path, interval_s, lambda: _gone(children))
    finally:
        _stop(children)
    stopped = (0, -signal.SIGTERM, -signal.SIGINT)
    failed = [f"{c.name} (exit {c.exitcode})" for c in children if c.exitcode not in stopped]
    if failed:
        raise WorkerFailed(f"worker {', '.join(failed)} failed; see its log above")


def _gone(children: Sequence[multiprocessing.process.BaseProcess]) -> str | None:
    """Why this process should stop: a worker ended on its own."""
    dead = [c.name for c in children if not c.is_alive()]
    return f"worker {', '.join(dead)} stopped" if dead else None


def _stop(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Ask every worker to write its last batch, then wait (killing one that does not stop)."""
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join(STOP_WAIT_S)
        if child.is_alive():
            child.kill()
            child.join()


def _child(specs: list[AgentSpec], db_path: Path, interval_s: float, parent_pid: int, level: int) -> None:
    """A worker process: record its shard; a failure is logged as one line and exits 1."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    try:
        record_shard(specs, db_path, interval_s, lambda: _orphaned(parent_pid))
    except StoreError as exc:
        log.error("%s", exc)
        sys.exit(1)


def _orphaned(parent_pid: int) -> str | None:
    """Why a worker should stop: its parent is gone (killed with -9, it cannot stop the worker itself)."""
    return None if os.getppid() == parent_pid else f"parent process {parent_pid} is gone"


def record_shard(
    specs: Sequence[AgentSpec], db_path: Path, interval_s: float, stop_when: StopCheck = lambda: None
) -> None:
    """Record `specs` in this process until SIGINT/SIGTERM or `stop_when()` gives a reason, then flush."""
    store = RecordStore(db_path)
    try:
        asyncio.run(_record(specs, store, interval_s, stop_when))
    finally:
        store.db.close()


async def _record(
    specs: Sequence[AgentSpec], store: RecordStore, interval_s: float, stop_when: StopCheck
) -> None:
    recorder = Recorder(specs, store, interval_s=interval_s)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, recorder.stop)
    watcher = asyncio.create_task(_watch(stop_when, recorder))
    try:
        await recorder.run()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    t = recorder.totals
    log.info(
        "stopped: %d samples, %d health events, %d events in %d batches",
        t.samples,
        t.health_events,
        t.events,
        t.batches,
    )


async def _watch(stop_when: StopCheck, recorder: Recorder) -> None:
    while (reason := stop_when()) is None:
        await asyncio.sleep(PARENT_CHECK_S)
    log.warning("%s; writing the last batch and stopping", reason)
    recorder.stop()
