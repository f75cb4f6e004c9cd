"""The normalized card sample every collector produces and every consumer reads.

One `CardSample` is one reading of one card (GPU, NPU, SoC accelerator) at one time. Field names carry
their unit. A value the vendor cannot give, or that failed to read, is `None`, never 0; when a read
failed, `field_errors` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Final


class CardState(StrEnum):
    """Whether the card answered at all (per-field failures are in `field_errors`)."""

    OK = "ok"
    LOST = "lost"  # fell off the bus / GPU is lost / device absent
    ERROR = "error"  # the card exists but could not be read this tick
    STALE = "stale"  # the collector missed its deadline; values are the last good ones


class Throttle(StrEnum):
    """Normalized clock-limiting reasons (NVML's clocks event reasons as the vocabulary).

    Vendor-specific reasons travel as ``"<source>:<name>"`` strings beside these, e.g.
    ``"nvml:display_clock"`` or ``"sysfs:cooling_device"``.
    """

    IDLE = "idle"
    APP_CLOCKS = "app_clocks"
    SW_POWER_CAP = "sw_power_cap"
    HW_SLOWDOWN = "hw_slowdown"
    HW_THERMAL = "hw_thermal"
    HW_POWER_BRAKE = "hw_power_brake"
    SW_THERMAL = "sw_thermal"
    SYNC_BOOST = "sync_boost"


@dataclass(frozen=True, slots=True)
class CardSample:
    """One reading of one card. Units are in the names; `None` means unknown.

    Identity:
        node: host name of the agent's node. vendor: hardware vendor (``nvidia``, ``huawei``, ``amd``,
        ``thead``, ``sophgo``, ``generic`` ...). source: the collector that read it (``nvml``, ``ascend``,
        ``sysfs``, ``sim``). index: the card's index on the node (NVML index, npu-smi NPU id x chip,
        sysfs enumeration order). uuid / serial / model / bus_id: as the vendor reports them.
        ts: Unix time in seconds when the reading was taken.
    Thermals (degrees Celsius): temp_c core/edge; mem_temp_c HBM/memory; temp_slowdown_c where hardware
        slowdown begins (NVML SLOWDOWN threshold, sysfs passive trip); temp_shutdown_c (NVML SHUTDOWN,
        sysfs critical trip); temp_max_operating_c (NVML GPU_MAX); mem_temp_max_c (NVML MEM_MAX).
    Power: power_w draw; power_limit_w the enforced limit; power_default_limit_w the model's default;
        energy_j cumulative since driver load.
    Clocks (MHz): sm_clock_mhz / sm_clock_max_mhz (NVML SM, Ascend AI core, devfreq cur/max);
        mem_clock_mhz / mem_clock_max_mhz.
    Load: util_pct compute utilization; mem_used_mib / mem_total_mib device memory; fan_pct.
    throttle: active clock-limiting reasons (`Throttle` values plus vendor passthrough strings).
    ECC (counts): ecc_{corrected,uncorrected}_{volatile,aggregate}; volatile is since driver load.
    retired_pages_sbe / retired_pages_dbe / retired_pages_pending; remapped_rows_corrected /
        remapped_rows_uncorrected / remap_pending / remap_failure.
    Link: pcie_gen / pcie_gen_max / pcie_width / pcie_width_max; pcie_replay_count cumulative.
    Events: xids NVIDIA Xid codes seen since the last sample; error_codes vendor error codes (Ascend hex).
    vendor_health: the vendor's own verdict (Ascend ``OK``/``Warning``/``Alarm``/``Critical``/``UNKNOWN``)
        and vendor_health_detail its text.
    state / state_reason: whether the card answered; field_errors: field name -> why it failed to read.
    """

    node: str
    vendor: str
    source: str
    index: int
    ts: float
    uuid: str | None = None
    serial: str | None = None
    model: str | None = None
    bus_id: str | None = None
    state: CardState = CardState.OK
    state_reason: str | None = None

    temp_c: float | None = None
    mem_temp_c: float | None = None
    temp_slowdown_c: float | None = None
    temp_shutdown_c: float | None = None
    temp_max_operating_c: float | None = None
    mem_temp_max_c: float | None = None

    power_w: float | None = None
    power_limit_w: float | None = None
    power_default_limit_w: float | None = None
    energy_j: float | None = None

    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    mem_clock_mhz: float | None = None
    mem_clock_max_mhz: float | None = None

    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    fan_pct: float | None = None

    throttle: frozenset[str] | None = None

    ecc_corrected_volatile: int | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_corrected_aggregate: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_sbe: int | None = None
    retired_pages_dbe: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_corrected: int | None = None
    remapped_rows_uncorrected: int | None = None
    remap_pending: bool | None = None
    remap_failure: bool | None = None

    pcie_gen: int | None = None
    pcie_gen_max: int | None = None
    pcie_width: int | None = None
    pcie_width_max: int | None = None
    pcie_replay_count: int | None = None

    xids: tuple[int, ...] = ()
    error_codes: tuple[str, ...] = ()
    vendor_health: str | None = None
    vendor_health_detail: str | None = None

    field_errors: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """Fleet-wide identity of the card: ``node/index``."""
        return card_key(self.node, self.index)


def card_key(node: str, index: int) -> str:
    """The key a card is known by across the fleet, the recorder and exports."""
    return f"{node}/{index}"


_KIND_BY_ANNOTATION: Final = {
    "str": "str",
    "int": "int",
    "float": "float",
    "str | None": "str",
    "int | None": "int",
    "float | None": "float",
    "bool | None": "bool",
    "CardState": "state",
    "frozenset[str] | None": "strset",
    "tuple[int, ...]": "ints",
    "tuple[str, ...]": "strs",
    "dict[str, str]": "strmap",
}

FIELD_KINDS: Final[dict[str, str]] = {f.name: _KIND_BY_ANNOTATION[str(f.type)] for f in fields(CardSample)}
"""Field name -> value kind; drives the wire codec, CSV columns and the recorder schema."""

REQUIRED_FIELDS: Final = ("node", "vendor", "source", "index", "ts")
NUMERIC_FIELDS: Final = tuple(name for name, kind in FIELD_KINDS.items() if kind in ("int", "float"))
