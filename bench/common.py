"""Shared helpers for the benchmarks: repeated measurement, median with spread, printed figures."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: median of several runs with its spread, against its target."""

    name: str
    unit: str
    median: float
    low: float
    high: float
    runs: int
    target: str

    def line(self) -> str:
        return (
            f"{self.name}: {self.median:.3f} {self.unit} (min {self.low:.3f}, max {self.high:.3f}, "
            f"{self.runs} runs; target {self.target})"
        )


def figure(name: str, unit: str, values: list[float], target: str) -> Figure:
    """Summarize repeated measurements as median with min/max."""
    return Figure(name, unit, statistics.median(values), min(values), max(values), len(values), target)


def timed_ms(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall time of `fn` in milliseconds, once per run."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def cpu_ms(fn: Callable[[], object], runs: int) -> list[float]:
    """CPU time of `fn` in this process in milliseconds, once per run (waiting for a shared core is not counted)."""
    out = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        out.append((time.process_time() - start) * 1000)
    return out


def machine() -> str:
    """Where the figures were taken."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def emit(figures: list[Figure]) -> list[Figure]:
    """Print each figure; with --json also print them as one JSON line for bench/run_all."""
    for fig in figures:
        print(fig.line())
    if "--json" in sys.argv:
        print(json.dumps([asdict(f) for f in figures]))
    return figures
