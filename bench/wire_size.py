"""Wire size per card sample: full sample, and the steady-state delta a stream tick carries.

Also what a whole sample costs inside a snapshot compressed as permessage-deflate would send it (raw
deflate, one message, no context kept from earlier messages), per card.

Run: python bench/wire_size.py [--ticks 30] [--json]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure

from cardwatch.collectors.sim import PROFILES, SCENARIOS, SimCollector
from cardwatch.wire import dumps, sample_to_wire, wire_delta


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    ticks = parser.parse_args(argv).ticks
    full: list[float] = []
    delta: list[float] = []
    deflated: list[float] = []
    for profile in PROFILES:
        scenarios = dict(enumerate(SCENARIOS))
        collector = SimCollector(
            node="gpu-node-0001", profile=profile, cards=len(SCENARIOS), scenarios=scenarios
        )
        previous: dict[int, dict] = {}
        for _ in range(ticks):
            samples = collector.read()
            deflated.append(len(_deflate(dumps([sample_to_wire(s) for s in samples]))) / len(samples))
            for sample in samples:
                wire = sample_to_wire(sample)
                full.append(len(dumps(wire).encode()))
                if sample.index in previous:
                    delta.append(len(dumps(wire_delta(previous[sample.index], wire)).encode()))
                previous[sample.index] = wire
    return emit(
        [
            figure("wire size, full sample", "bytes", full, "< 400 bytes per card sample"),
            figure("wire size, tick delta", "bytes", delta, "< 400 bytes per card sample"),
            figure(
                "wire size, full sample in a deflated snapshot",
                "bytes",
                deflated,
                "< 400 bytes per card sample",
            ),
        ]
    )


def _deflate(text: str) -> bytes:
    """The payload permessage-deflate sends for one message (RFC 7692: raw deflate, sync flush)."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)


if __name__ == "__main__":
    main()
