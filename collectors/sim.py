"""A deterministic simulated vendor for demos, load tests and CI.

Every value is a pure function of (seed, node, card index, tick), so two runs with the same seed
produce the same samples; only ``ts`` comes from the injected clock. Each card runs one named
scenario (`SCENARIOS`) that reproduces a real way of losing compute.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Final

from cardwatch.model import CardSample, CardState, Throttle


@dataclass(frozen=True, slots=True)
class SimProfile:
    """What one simulated card model reports, mirroring what its real collector can read."""

    vendor: str
    model: str
    temp_busy_c: float
    temp_slowdown_c: float | None
    temp_shutdown_c: float | None
    sm_clock_max_mhz: float
    power_busy_w: float | None
    power_limit_w: float | None
    mem_total_mib: float | None
    mem_temp_max_c: float | None = None
    temp_max_operating_c: float | None = None
    mem_clock_mhz: float | None = None
    pcie_gen_max: int | None = None
    pcie_width_max: int | None = None
    has_throttle: bool = True
    has_ecc: bool = True
    has_vendor_health: bool = False
    thermal_reasons: frozenset[str] = frozenset({Throttle.SW_THERMAL, Throttle.HW_THERMAL})


PROFILES: Final[dict[str, SimProfile]] = {
    "nvidia-h100": SimProfile(
        vendor="nvidia",
        model="NVIDIA H100 80GB HBM3",
        temp_busy_c=62.0,
        temp_slowdown_c=90.0,
        temp_shutdown_c=92.0,
        temp_max_operating_c=87.0,
        mem_temp_max_c=95.0,
        sm_clock_max_mhz=1980.0,
        mem_clock_mhz=2619.0,
        power_busy_w=610.0,
        power_limit_w=700.0,
        mem_total_mib=81559.0,
        pcie_gen_max=5,
        pcie_width_max=16,
    ),
    "ascend-910b": SimProfile(
        vendor="huawei",
        model="910B3",
        temp_busy_c=55.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=1800.0,
        power_busy_w=290.0,
        power_limit_w=None,
        mem_total_mib=65536.0,
        has_throttle=False,
        has_vendor_health=True,
    ),
    "riscv-th1520": SimProfile(
        vendor="thead",
        model="TH1520 NPU",
        temp_busy_c=58.0,
        temp_slowdown_c=85.0,
        temp_shutdown_c=110.0,
        sm_clock_max_mhz=1000.0,
        power_busy_w=None,
        power_limit_w=None,
        mem_total_mib=None,
        has_ecc=False,
        thermal_reasons=frozenset({Throttle.SW_THERMAL, "sysfs:cooling_device"}),
    ),
    "amd-mi300x": SimProfile(
        vendor="amd",
        model="AMD Instinct MI300X",
        temp_busy_c=68.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=2100.0,
        power_busy_w=690.0,
        power_limit_w=750.0,
        mem_total_mib=196592.0,
        thermal_reasons=frozenset({Throttle.HW_THERMAL, "amd-smi:SOCKET_THERMAL"}),
    ),
    "mthreads-s5000": SimProfile(
        vendor="mthreads",
        model="MTT S5000",
        temp_busy_c=62.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=2000.0,
        power_busy_w=560.0,
        power_limit_w=950.0,
        mem_total_mib=81920.0,
        pcie_width_max=16,
        has_throttle=False,
        has_ecc=False,
    ),
    "metax-c550": SimProfile(
        vendor="metax",
        model="MetaX C550",
        temp_busy_c=58.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=1600.0,
        power_busy_w=410.0,
        power_limit_w=450.0,
        mem_total_mib=65536.0,
        has_throttle=False,
    ),
    "cambricon-mlu370": SimProfile(
        vendor="cambricon",
        model="MLU370-X8",
        temp_busy_c=60.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=1300.0,
        power_busy_w=230.0,
        power_limit_w=250.0,
        mem_total_mib=23374.0,
        has_throttle=False,
        has_ecc=False,
    ),
    "enflame-s60": SimProfile(
        vendor="enflame",
        model="S60",
        temp_busy_c=57.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=1400.0,
        power_busy_w=270.0,
        power_limit_w=300.0,
        mem_total_mib=49120.0,
        has_throttle=False,
        has_ecc=False,
    ),
    "thead-ppu": SimProfile(
        vendor="thead",
        model="PPU-ZW810E",
        temp_busy_c=56.0,
        temp_slowdown_c=None,
        temp_shutdown_c=None,
        sm_clock_max_mhz=1700.0,
        power_busy_w=360.0,
        power_limit_w=400.0,
        mem_total_mib=98304.0,
        thermal_reasons=frozenset({Throttle.SW_THERMAL, Throttle.HW_THERMAL, "ppu-smi:0x0000000000000060"}),
    ),
}

SCENARIOS: Final = (
    "healthy",
    "thermal",
    "power_cap",
    "hbm_hot",
    "ecc_storm",
    "link_down",
    "lost",
    "straggler",
)
"""Named ways a simulated card behaves; `healthy` is the default."""

LOST_AFTER_TICKS: Final = 3
POWER_CAP_LIMIT_W: Final = 450.0
STRAGGLER_CLOCK_RATIO: Final = 0.87


class SimCollector:
    """Simulated cards of one node: ``SimCollector(node="sim-00", profile="nvidia-h100", cards=8)``.

    `scenarios` maps card index -> scenario name (cards not listed are healthy).
    """

    name: ClassVar[str] = "sim"

    def __init__(
        self,
        node: str = "sim-node",
        profile: str = "nvidia-h100",
        cards: int = 8,
        seed: int = 1,
        scenarios: Mapping[int, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown sim profile {profile!r} (known: {', '.join(PROFILES)})")
        unknown = {s for s in (scenarios or {}).values() if s not in SCENARIOS}
        if unknown:
            raise ValueError(f"unknown scenario {sorted(unknown)} (known: {', '.join(SCENARIOS)})")
        self.node = node
        self.profile = PROFILES[profile]
        self.cards = cards
        self.seed = seed
        self.scenarios = dict(scenarios or {})
        self.clock = clock
        self.tick = 0

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """The simulator is always available, but `auto` never picks it."""
        return True

    def read(self) -> list[CardSample]:
        """One tick of every simulated card."""
        now = self.clock()
        samples = [self.sample(index, self.tick, now) for index in range(self.cards)]
        self.tick += 1
        return samples

    def close(self) -> None:
        """Nothing to release."""

    def sample(self, index: int, tick: int, ts: float) -> CardSample:
        """The sample card `index` reports at `tick` (pure: no state is changed)."""
        scenario = self.scenarios.get(index, "healthy")
        rng = random.Random(zlib.crc32(f"{self.seed}/{self.node}/{index}/{tick}".encode()))
        base = self._healthy(index, rng, ts)
        return _SCENARIO_APPLY[scenario](base, self.profile, tick, rng)

    def _healthy(self, index: int, rng: random.Random, ts: float) -> CardSample:
        p = self.profile
        unit = zlib.crc32(f"{self.seed}/{self.node}/{index}".encode())
        return CardSample(
            node=self.node,
            vendor=p.vendor,
            source=self.name,
            index=index,
            ts=ts,
            uuid=f"SIM-{unit:08x}-{index:04d}",
            serial=f"SIM{unit % 10**10:010d}",
            model=p.model,
            bus_id=f"0000:{0x18 + 0x10 * index:02X}:00.0",
            temp_c=round(p.temp_busy_c + rng.uniform(-3, 3), 1),
            mem_temp_c=round(p.temp_busy_c + 6 + rng.uniform(-2, 2), 1) if p.mem_temp_max_c else None,
            temp_slowdown_c=p.temp_slowdown_c,
            temp_shutdown_c=p.temp_shutdown_c,
            temp_max_operating_c=p.temp_max_operating_c,
            mem_temp_max_c=p.mem_temp_max_c,
            power_w=round(p.power_busy_w * rng.uniform(0.93, 1.0), 1) if p.power_busy_w else None,
            power_limit_w=p.power_limit_w,
            power_default_limit_w=p.power_limit_w,
            sm_clock_mhz=p.sm_clock_max_mhz - rng.choice((0, 0, 15, 30)),
            sm_clock_max_mhz=p.sm_clock_max_mhz,
            mem_clock_mhz=p.mem_clock_mhz,
            mem_clock_max_mhz=p.mem_clock_mhz,
            util_pct=float(rng.randint(93, 100)),
            mem_used_mib=round(p.mem_total_mib * rng.uniform(0.7, 0.8)) if p.mem_total_mib else None,
            mem_total_mib=p.mem_total_mib,
            throttle=frozenset() if p.has_throttle else None,
            ecc_corrected_volatile=0 if p.has_ecc else None,
            ecc_uncorrected_volatile=0 if p.has_ecc else None,
            ecc_corrected_aggregate=0 if p.has_ecc else None,
            ecc_uncorrected_aggregate=0 if p.has_ecc else None,
            remapped_rows_corrected=0 if p.pcie_gen_max else None,
            remapped_rows_uncorrected=0 if p.pcie_gen_max else None,
            remap_pending=False if p.pcie_gen_max else None,
            remap_failure=False if p.pcie_gen_max else None,
            pcie_gen=p.pcie_gen_max,
            pcie_gen_max=p.pcie_gen_max,
            pcie_width=p.pcie_width_max,
            pcie_width_max=p.pcie_width_max,
            pcie_replay_count=0 if p.pcie_gen_max else None,
            vendor_health="OK" if p.has_vendor_health else None,
        )


def _healthy(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    return s


def _thermal(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """Hot card under load: clocks pulled down by thermal slowdown."""
    hot_c = (p.temp_slowdown_c or 95.0) - 2 + rng.uniform(0, 1.5)
    throttle = p.thermal_reasons if p.has_throttle else None
    return replace(
        s,
        temp_c=round(hot_c, 1),
        sm_clock_mhz=round(p.sm_clock_max_mhz * 0.6),
        throttle=throttle,
        vendor_health="Warning" if p.has_vendor_health else None,
    )


def _power_cap(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """Someone lowered the power limit and forgot: the card sits at the cap with clocks down."""
    if p.power_limit_w is None:
        return replace(s, sm_clock_mhz=round(p.sm_clock_max_mhz * 0.75))
    return replace(
        s,
        power_limit_w=POWER_CAP_LIMIT_W,
        power_w=round(POWER_CAP_LIMIT_W - rng.uniform(0, 4), 1),
        sm_clock_mhz=round(p.sm_clock_max_mhz * 0.76),
        throttle=frozenset({Throttle.SW_POWER_CAP}),
    )


def _hbm_hot(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """HBM close to its limit while the core looks fine."""
    if p.mem_temp_max_c is None:
        return s
    return replace(s, mem_temp_c=round(p.mem_temp_max_c - 2 + rng.uniform(0, 1), 1))


def _ecc_storm(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """Corrected ECC errors at thousands per second and accelerating."""
    if not p.has_ecc:
        return s
    count = 2000 * tick + 250 * tick * tick
    return replace(s, ecc_corrected_volatile=count, ecc_corrected_aggregate=count)


def _link_down(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """PCIe link trained below its capability, with replays climbing."""
    if p.pcie_gen_max is None:
        return s
    return replace(
        s, pcie_gen=p.pcie_gen_max - 2, pcie_width=(p.pcie_width_max or 16) // 2, pcie_replay_count=20 * tick
    )


def _lost(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """Healthy for a few ticks, then the card falls off the bus."""
    if tick < LOST_AFTER_TICKS:
        return s
    reason = "GPU is lost (fell off the bus)" if p.vendor == "nvidia" else "device absent"
    return CardSample(
        node=s.node,
        vendor=s.vendor,
        source=s.source,
        index=s.index,
        ts=s.ts,
        uuid=s.uuid,
        serial=s.serial,
        model=s.model,
        bus_id=s.bus_id,
        state=CardState.LOST,
        state_reason=reason,
        xids=(79,) if p.vendor == "nvidia" and tick == LOST_AFTER_TICKS else (),
        vendor_health="UNKNOWN" if p.has_vendor_health else None,
    )


def _straggler(s: CardSample, p: SimProfile, tick: int, rng: random.Random) -> CardSample:
    """Busy, no throttle reason, yet clocks 10-15 % under its peers."""
    power = round(s.power_w * 0.85, 1) if s.power_w is not None else None
    return replace(s, sm_clock_mhz=round(p.sm_clock_max_mhz * STRAGGLER_CLOCK_RATIO), power_w=power)


_SCENARIO_APPLY: Final[dict[str, Callable[[CardSample, SimProfile, int, random.Random], CardSample]]] = {
    "healthy": _healthy,
    "thermal": _thermal,
    "power_cap": _power_cap,
    "hbm_hot": _hbm_hot,
    "ecc_storm": _ecc_storm,
    "link_down": _link_down,
    "lost": _lost,
    "straggler": _straggler,
}
