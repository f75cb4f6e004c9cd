"""Human formatting of sample values, shared by `cardwatch probe`, the TUI and reports.

Unknown is shown as ``-`` (never 0) so a reader can tell "not reported" from "zero".
"""

from __future__ import annotations

from typing import Final

from cardwatch.model import CardSample, CardState

UNKNOWN: Final = "-"


def num(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A number with its unit, or the unknown mark."""
    if value is None:
        return UNKNOWN
    return f"{value:.{digits}f}{unit}"


def pair(value: float | None, limit: float | None, unit: str = "") -> str:
    """``value/limit unit`` as nvidia-smi prints power and clocks; either side may be unknown."""
    if value is None and limit is None:
        return UNKNOWN
    return f"{num(value)}/{num(limit)}{unit}"


def throttle(sample: CardSample) -> str:
    """Active throttle reasons, ``none`` when the vendor says none, unknown when it cannot say."""
    if sample.throttle is None:
        return UNKNOWN
    return ",".join(sorted(sample.throttle)) or "none"


def ecc(sample: CardSample) -> str:
    """Volatile corrected/uncorrected ECC counts."""
    return pair(sample.ecc_corrected_volatile, sample.ecc_uncorrected_volatile)


def link(sample: CardSample) -> str:
    """PCIe link as ``gen5x16`` with the maximum in brackets when it is downtrained."""
    if sample.pcie_gen is None and sample.pcie_width is None:
        return UNKNOWN
    now = f"gen{num(sample.pcie_gen)}x{num(sample.pcie_width)}"
    best = f"gen{num(sample.pcie_gen_max)}x{num(sample.pcie_width_max)}"
    return now if now == best else f"{now} [{best}]"


def state(sample: CardSample) -> str:
    """The card state, with its reason when it is not OK."""
    if sample.state is CardState.OK:
        return "ok"
    return f"{sample.state.value}: {sample.state_reason}" if sample.state_reason else sample.state.value
