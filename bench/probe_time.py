"""`cardwatch probe --collector sim` wall time, interpreter start included.

Run: python bench/probe_time.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure, timed_ms


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    runs = parser.parse_args(argv).runs
    exe = shutil.which("cardwatch") or sys.exit("cardwatch is not installed: pip install -e .")
    for args in (["probe", "-c", "sim"], ["probe", "-c", "sim", "--json"]):
        subprocess.run([exe, *args], check=True, capture_output=True, timeout=30)  # warm the disk cache
    table = timed_ms(
        lambda: subprocess.run([exe, "probe", "-c", "sim"], check=True, capture_output=True, timeout=30), runs
    )
    json_ = timed_ms(
        lambda: subprocess.run(
            [exe, "probe", "-c", "sim", "--json"], check=True, capture_output=True, timeout=30
        ),
        runs,
    )
    return emit(
        [
            figure("cardwatch probe -c sim (table), wall", "ms", table, "< 1000 ms"),
            figure("cardwatch probe -c sim --json, wall", "ms", json_, "< 1000 ms"),
        ]
    )


if __name__ == "__main__":
    main()
