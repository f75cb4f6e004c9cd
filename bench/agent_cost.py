"""Agent CPU and resident memory: a real `cardwatch agent` (8 sim cards, history on, one stream client).

CPU: % of one core over the measurement window at 1 Hz (target < 0.5 %).
RSS: resident memory at start and end of a run and its growth; the quick run packs 600 ticks into
60 s (10 Hz) as a stand-in for 10 minutes at 1 Hz, `--full` runs the real 10 minutes (target < 60 MB, flat).

Run: python bench/agent_cost.py [--seconds 60] [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_agent(interval_s: float, db: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("cardwatch") or sys.exit("cardwatch is not installed: pip install -e .")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "agent",
            "--collector",
            "sim",
            "--interval",
            str(interval_s),
            "--db",
            str(db),
            "--listen",
            f"127.0.0.1:{port}",
            "--node",
            "bench-node",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


async def _follow(url: str, seconds: float) -> int:
    """Be the one stream client; returns the number of frames received."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/healthz"):
                    break
            await asyncio.sleep(0.1)
        frames = 0
        async with session.ws_connect(f"{url}/v1/stream") as ws:
            while (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.receive(), timeout=left)
                    frames += 1
        return frames


def _measure(interval_s: float, seconds: float, samples: int) -> tuple[list[float], list[float], int]:
    """Run one agent; returns CPU % per slice, RSS MB per slice, frames seen."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_agent(interval_s, Path(tmp) / "history.db")
        try:
            agent = psutil.Process(proc.pid)
            time.sleep(2)
            cpu, rss = [], []

            async def run() -> int:
                client = asyncio.create_task(_follow(url, seconds))
                slice_s = seconds / samples
                for _ in range(samples):
                    before = sum(agent.cpu_times()[:2])
                    await asyncio.sleep(slice_s)
                    cpu.append(100 * (sum(agent.cpu_times()[:2]) - before) / slice_s)
                    rss.append(agent.memory_info().rss / 2**20)
                return await client

            frames = asyncio.run(run())
            return cpu, rss, frames
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--full", action="store_true", help="RSS over a real 10 minutes at 1 Hz")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cpu, _, frames = _measure(1.0, args.seconds, samples=6)
    rss_interval, rss_seconds = (1.0, 600.0) if args.full else (0.1, args.seconds)
    _, rss, _ = _measure(rss_interval, rss_seconds, samples=10)
    ticks = int(rss_seconds / rss_interval)
    print(f"stream client received {frames} frames in {args.seconds:.0f} s")
    print(
        f"RSS over {ticks} ticks: start {rss[0]:.1f} MB, end {rss[-1]:.1f} MB, growth {rss[-1] - rss[0]:+.1f} MB"
    )
    return emit(
        [
            figure("agent CPU at 1 Hz, 8 sim cards, history on, 1 client", "% of one core", cpu, "< 0.5 %"),
            figure(f"agent RSS over {ticks} ticks", "MB", rss, "< 60 MB and flat"),
        ]
    )


if __name__ == "__main__":
    main()
