"""Prometheus text exposition of the node's latest samples (``GET /metrics``).

Built with prometheus_client's metric families, which handle name, label and help escaping and the
exposition format. An unknown value (`None`) is left out, never exported as 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector as PromCollector

from cardwatch.collectors import CollectorStatus
from cardwatch.model import CardSample, CardState, Throttle

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
CARD_LABELS: Final = ("node", "card", "uuid", "vendor", "model")
MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Series:
    """One CardSample field exported as one series of a family: its extra labels and unit scale."""

    field: str
    labels: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0


_GAUGES: Final[dict[str, tuple[str, tuple[_Series, ...]]]] = {
    "temperature_celsius": (
        "Card temperature by sensor.",
        (
            _Series("temp_c", (("sensor", "core"),)),
            _Series("mem_temp_c", (("sensor", "memory"),)),
        ),
    ),
    "temperature_threshold_celsius": (
        "Temperature at which the card slows down or shuts off.",
        (
            _Series("temp_slowdown_c", (("threshold", "slowdown"),)),
            _Series("temp_shutdown_c", (("threshold", "shutdown"),)),
            _Series("temp_max_operating_c", (("threshold", "max_operating"),)),
            _Series("mem_temp_max_c", (("threshold", "memory_max"),)),
        ),
    ),
    "power_watts": ("Power draw.", (_Series("power_w"),)),
    "power_limit_watts": (
        "Power limit by kind.",
        (
            _Series("power_limit_w", (("limit", "enforced"),)),
            _Series("power_default_limit_w", (("limit", "default"),)),
        ),
    ),
    "clock_mhz": (
        "Current clock.",
        (_Series("sm_clock_mhz", (("clock", "sm"),)), _Series("mem_clock_mhz", (("clock", "memory"),))),
    ),
    "clock_max_mhz": (
        "Maximum clock.",
        (
            _Series("sm_clock_max_mhz", (("clock", "sm"),)),
            _Series("mem_clock_max_mhz", (("clock", "memory"),)),
        ),
    ),
    "utilization_ratio": ("Compute utilization (0-1).", (_Series("util_pct", scale=0.01),)),
    "memory_used_bytes": ("Device memory in use.", (_Series("mem_used_mib", scale=MIB),)),
    "memory_total_bytes": ("Device memory size.", (_Series("mem_total_mib", scale=MIB),)),
    "fan_speed_ratio": ("Fan speed (0-1).", (_Series("fan_pct", scale=0.01),)),
    "retired_pages": (
        "Pages retired by cause.",
        (
            _Series("retired_pages_sbe", (("cause", "single_bit"),)),
            _Series("retired_pages_dbe", (("cause", "double_bit"),)),
        ),
    ),
    "retired_pages_pending": (
        "1 when a page retirement waits for a reset.",
        (_Series("retired_pages_pending"),),
    ),
    "remapped_rows": (
        "Memory rows remapped by error type.",
        (
            _Series("remapped_rows_corrected", (("type", "corrected"),)),
            _Series("remapped_rows_uncorrected", (("type", "uncorrected"),)),
        ),
    ),
    "remap_pending": ("1 when a row remap waits for a reset.", (_Series("remap_pending"),)),
    "remap_failure": ("1 when a row remap failed.", (_Series("remap_failure"),)),
    "pcie_link_generation": (
        "PCIe link generation.",
        (_Series("pcie_gen", (("link", "current"),)), _Series("pcie_gen_max", (("link", "max"),))),
    ),
    "pcie_link_width_lanes": (
        "PCIe link width.",
        (_Series("pcie_width", (("link", "current"),)), _Series("pcie_width_max", (("link", "max"),))),
    ),
    "sample_timestamp_seconds": ("When the card was last read (Unix time).", (_Series("ts"),)),
}

_COUNTERS: Final[dict[str, tuple[str, tuple[_Series, ...]]]] = {
    "ecc_errors": (
        "ECC errors by type and scope (volatile: since driver load).",
        tuple(
            _Series(f"ecc_{kind}_{scope}", (("type", kind), ("scope", scope)))
            for kind in ("corrected", "uncorrected")
            for scope in ("volatile", "aggregate")
        ),
    ),
    "energy_joules": ("Energy used since driver load.", (_Series("energy_j"),)),
    "pcie_replays": ("PCIe replays.", (_Series("pcie_replay_count"),)),
}


def render(cards: Mapping[int, CardSample], statuses: list[CollectorStatus]) -> bytes:
    """The exposition text for one view of the node."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_NodeCollector(list(cards.values()), statuses))
    return generate_latest(registry)


class _NodeCollector(PromCollector):
    """Turns one snapshot into metric families each time it is collected."""

    def __init__(self, cards: list[CardSample], statuses: list[CollectorStatus]) -> None:
        self.cards = cards
        self.statuses = statuses

    def collect(self) -> Iterator[Metric]:
        yield from self._card_families()
        yield self._states()
        yield self._throttle()
        yield self._vendor_health()
        yield from self._collector_families()

    def _card_families(self) -> Iterator[Metric]:
        for kind, table in ((GaugeMetricFamily, _GAUGES), (CounterMetricFamily, _COUNTERS)):
            for suffix, (help_text, series) in table.items():
                yield _family(kind, suffix, help_text, series, self.cards)

    def _states(self) -> Metric:
        family = GaugeMetricFamily(
            "cardwatch_card_state",
            "1 for the card's current state.",
            labels=[*CARD_LABELS, "state", "reason"],
        )
        for card in self.cards:
            for state in CardState:
                reason = card.state_reason or "" if state is card.state else ""
                family.add_metric([*_card_labels(card), state.value, reason], float(state is card.state))
        return family

    def _throttle(self) -> Metric:
        family = GaugeMetricFamily(
            "cardwatch_card_throttle_reason_active",
            "1 while the reason limits the card's clocks.",
            labels=[*CARD_LABELS, "reason"],
        )
        for card in self.cards:
            if card.throttle is None:
                continue
            for reason in sorted(set(Throttle) | card.throttle):
                family.add_metric([*_card_labels(card), str(reason)], float(reason in card.throttle))
        return family

    def _vendor_health(self) -> Metric:
        family = GaugeMetricFamily(
            "cardwatch_card_vendor_health",
            "The vendor's own health verdict (value 1).",
            labels=[*CARD_LABELS, "health"],
        )
        for card in self.cards:
            if card.vendor_health is not None:
                family.add_metric([*_card_labels(card), card.vendor_health], 1.0)
        return family

    def _collector_families(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "cardwatch_collector_success", "1 if the collector's last read succeeded.", labels=["collector"]
        )
        duration = GaugeMetricFamily(
            "cardwatch_collector_duration_seconds",
            "How long the collector's last read took.",
            labels=["collector"],
        )
        for status in self.statuses:
            success.add_metric([status.name], float(status.ok))
            duration.add_metric([status.name], status.duration_s)
        yield success
        yield duration


def _family(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    suffix: str,
    help_text: str,
    series: tuple[_Series, ...],
    cards: list[CardSample],
) -> Metric:
    extra = [name for name, _ in series[0].labels]
    family = kind(f"cardwatch_card_{suffix}", help_text, labels=[*CARD_LABELS, *extra])
    for card in cards:
        for s in series:
            value = getattr(card, s.field)
            if value is not None:
                family.add_metric([*_card_labels(card), *(v for _, v in s.labels)], float(value) * s.scale)
    return family


def _card_labels(card: CardSample) -> list[str]:
    return [card.node, str(card.index), card.uuid or "", card.vendor, card.model or ""]
