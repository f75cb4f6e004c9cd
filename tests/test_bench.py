"""Every benchmark still runs: each script at tiny sizes, the way bench/run_all runs it (no timing asserts)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_run_all() -> ModuleType:
    """bench/run_all has no .py suffix, so load it through an explicit source loader."""
    loader = importlib.machinery.SourceFileLoader("bench_run_all", str(BENCH / "run_all"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


run_all = _load_run_all()
PRESENT = [script for script in run_all.SMOKE if (BENCH / script).exists()]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("script", PRESENT)
def test_script_prints_finite_figures(script: str) -> None:
    """Each script, at tiny sizes, ends well and prints figures that are numbers with a target."""
    run = run_all.run_script(script, run_all.SMOKE[script], limit_s=200)
    assert run.status == "ok", run.status
    assert run.figures
    for fig in run.figures:
        assert fig["runs"] >= 1 and fig["target"]
        assert all(math.isfinite(fig[k]) for k in ("median", "low", "high"))
        assert fig["low"] <= fig["median"] <= fig["high"]


def test_every_script_is_run_by_run_all() -> None:
    """A benchmark script that run_all does not know would never be measured."""
    scripts = {path.name for path in BENCH.glob("*.py")} - {"common.py", "fleet_agents.py"}
    assert scripts <= set(run_all.QUICK)
    assert set(run_all.QUICK) == set(run_all.SMOKE)


@pytest.mark.parametrize(
    ("target", "median", "expected"),
    [
        ("< 2 ms", 1.5, True),
        ("< 2 ms", 2.0, False),
        ("< 0.5 %", 0.7, False),
        (">= 50,000 samples/s", 50000, True),
        (">= 50,000 samples/s", 36521.2, False),
        ("= 1250 (every agent)", 1, None),
        ("- (contention, not cost)", 3, None),
    ],
)
def test_targets_are_judged_on_the_median(target: str, median: float, expected: bool | None) -> None:
    assert run_all.met({"target": target, "median": median}) is expected


def test_a_failing_script_is_recorded_with_its_reason(tmp_path: Path) -> None:
    """A script that exits with an error becomes a status line with the error, not a crash of run_all."""
    run = run_all.run_script("wire_size.py", ["--ticks", "not-a-number"], limit_s=60)
    assert run.status.startswith("failed (exit 2)") and "invalid int value" in run.status
    assert run.figures == []
    out = tmp_path / "summary.json"
    out.write_text(json.dumps(run_all.summary([run], 1.0)))
    assert json.loads(out.read_text())["scripts"][0]["status"] == run.status
