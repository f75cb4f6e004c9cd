"""Reading one NVIDIA GPU's fields through NVML, each checked and brought to `CardSample` units."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Final, NamedTuple

from cardwatch.collectors.nvml_calls import FieldUnread, Ret, nvml_failure, query
from cardwatch.model import FIELD_KINDS, Throttle

TEMPERATURE_GPU: Final = 0
CLOCK_SM: Final = 1
CLOCK_MEM: Final = 2
MIB: Final = 1024 * 1024
MILLI_FIELDS: Final = frozenset({"power_w", "power_limit_w", "power_default_limit_w", "energy_j"})
"""Fields NVML gives in milli-units (mW, mJ)."""

THROTTLE_BITS: Final[dict[int, str]] = {
    0x1: Throttle.IDLE,
    0x2: Throttle.APP_CLOCKS,
    0x4: Throttle.SW_POWER_CAP,
    0x8: Throttle.HW_SLOWDOWN,
    0x10: Throttle.SYNC_BOOST,
    0x20: Throttle.SW_THERMAL,
    0x40: Throttle.HW_THERMAL,
    0x80: Throttle.HW_POWER_BRAKE,
    0x100: "nvml:display_clock",
    0x200: "nvml:board_limit",
    0x400: "nvml:reliability",
}
"""NVML clocks event reason bits (vendors.md A.3); bits not listed here are ignored."""

FIELD_IDS: Final[dict[str, int]] = {
    "mem_temp_c": 82,
    "energy_j": 83,
    "ecc_corrected_volatile": 3,
    "ecc_uncorrected_volatile": 4,
    "ecc_corrected_aggregate": 5,
    "ecc_uncorrected_aggregate": 6,
    "retired_pages_sbe": 29,
    "retired_pages_dbe": 30,
    "retired_pages_pending": 31,
    "pcie_replay_count": 94,
    "remapped_rows_corrected": 142,
    "remapped_rows_uncorrected": 143,
    "remap_pending": 144,
    "remap_failure": 145,
}
"""Fields read with one ``nvmlDeviceGetFieldValues`` call per GPU (NVML_FI_DEV_* ids)."""

TLIMIT_IDS: Final[dict[str, int]] = {
    "temp_shutdown_c": 193,
    "temp_slowdown_c": 194,
    "mem_temp_max_c": 195,
    "temp_max_operating_c": 196,
}
"""Threshold fields read in the same call (Ada and later). NVML gives them as signed margins on the
T.Limit scale (-5 means 5 degrees past T.Limit), so the absolute threshold is temp + margin - value."""

LEGACY_THRESHOLDS: Final[dict[str, int]] = {
    "temp_shutdown_c": 0,
    "temp_slowdown_c": 1,
    "mem_temp_max_c": 2,
    "temp_max_operating_c": 3,
}
"""Threshold fields -> ``nvmlDeviceGetTemperatureThreshold`` type (absolute degrees), the fallback."""

VALUE_MEMBERS: Final[dict[int, str]] = {
    0: "dVal",
    1: "uiVal",
    2: "ulVal",
    3: "ullVal",
    4: "sllVal",
    5: "siVal",
    6: "usVal",
}
"""``nvmlValueType_t`` -> the ``c_nvmlValue_t`` union member that holds the value."""


class Scalar(NamedTuple):
    """A field read by one plain NVML call (the newest function first, older ones as fallbacks)."""

    name: str
    calls: tuple[str, ...]
    args: tuple[int, ...] = ()


SCALARS: Final = (
    Scalar("temp_c", ("nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature"), (TEMPERATURE_GPU,)),
    Scalar("power_w", ("nvmlDeviceGetPowerUsage",)),
    Scalar("power_limit_w", ("nvmlDeviceGetEnforcedPowerLimit",)),
    Scalar("power_default_limit_w", ("nvmlDeviceGetPowerManagementDefaultLimit",)),
    Scalar("sm_clock_mhz", ("nvmlDeviceGetClockInfo",), (CLOCK_SM,)),
    Scalar("sm_clock_max_mhz", ("nvmlDeviceGetMaxClockInfo",), (CLOCK_SM,)),
    Scalar("mem_clock_mhz", ("nvmlDeviceGetClockInfo",), (CLOCK_MEM,)),
    Scalar("mem_clock_max_mhz", ("nvmlDeviceGetMaxClockInfo",), (CLOCK_MEM,)),
    Scalar("fan_pct", ("nvmlDeviceGetFanSpeed",)),
    Scalar("pcie_gen", ("nvmlDeviceGetCurrPcieLinkGeneration",)),
    Scalar("pcie_gen_max", ("nvmlDeviceGetMaxPcieLinkGeneration",)),
    Scalar("pcie_width", ("nvmlDeviceGetCurrPcieLinkWidth",)),
    Scalar("pcie_width_max", ("nvmlDeviceGetMaxPcieLinkWidth",)),
)
IDENTITY: Final = ("model", "uuid", "serial", "bus_id")


def _shown(value: Any) -> str:
    return f"{value!r:.40}"


def convert(name: str, raw: Any, what: str) -> Any:
    """Check an NVML value and bring it to the unit and type of field `name`."""
    kind = FIELD_KINDS[name]
    if kind == "str":
        return _text(raw, what)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise FieldUnread(f"{what}: NVML returned {_shown(raw)}, not a number")
    if kind != "float":
        if not isinstance(raw, int) or raw < 0 or (kind == "bool" and raw > 1):
            expected = "0 or 1" if kind == "bool" else "a count"
            raise FieldUnread(f"{what}: NVML returned {_shown(raw)}, not {expected}")
        return bool(raw) if kind == "bool" else raw
    number = float(raw) if abs(raw) < 2**1000 else math.inf
    if not math.isfinite(number):
        raise FieldUnread(f"{what}: NVML returned {_shown(raw)}, not a finite number")
    return number / 1000 if name in MILLI_FIELDS else number


def _text(raw: Any, what: str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.strip("\0 "):
        raise FieldUnread(f"{what}: NVML returned {_shown(raw)}, not a name")
    return raw.strip("\0 ")


def _member(obj: Any, name: str, what: str) -> Any:
    if not hasattr(obj, name):
        raise FieldUnread(f"{what}: NVML returned {_shown(obj)} without {name}")
    return getattr(obj, name)


def decode_throttle(raw: Any, what: str) -> frozenset[str]:
    """The `Throttle` reasons (and ``nvml:`` passthroughs) set in a clocks event reasons mask."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise FieldUnread(f"{what}: NVML returned {_shown(raw)}, not a bit mask")
    return frozenset(reason for bit, reason in THROTTLE_BITS.items() if raw & bit)


@dataclass
class CardReader:
    """Fills one GPU's fields; a failed read leaves its fields None with the reason."""

    nvml: ModuleType
    handle: Any
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def call(self, name: str, *args: Any) -> Any:
        return query(self.nvml, name, self.handle, *args)

    def call_newest(self, names: tuple[str, ...], *args: Any) -> Any:
        """Call the first of `names` this driver has, falling back on FunctionNotFound."""
        for name in names[:-1]:
            try:
                return self.call(name, *args)
            except FieldUnread as exc:
                if exc.code != Ret.FUNCTION_NOT_FOUND:
                    raise
        return self.call(names[-1], *args)

    def fill(self, names: tuple[str, ...], read: Callable[..., tuple[Any, ...]], *args: Any) -> None:
        """Run one read that yields `names`; if it fails they all stay None with its reason."""
        try:
            got = read(*args)
        except FieldUnread as exc:
            self.errors.update(dict.fromkeys(names, exc.reason))
        else:
            self.values.update(zip(names, got, strict=True))

    def read_identity(self) -> None:
        self.fill(("model",), self._name, "nvmlDeviceGetName")
        self.fill(("uuid",), self._name, "nvmlDeviceGetUUID")
        self.fill(("serial",), self._name, "nvmlDeviceGetSerial")
        self.fill(("bus_id",), self._bus_id)

    def read_metrics(self) -> None:
        for scalar in SCALARS:
            self.fill((scalar.name,), self._scalar, scalar)
        self.fill(("util_pct",), self._utilization)
        self.fill(("mem_used_mib", "mem_total_mib"), self._memory)
        self.fill(("throttle",), self._throttle)
        self.read_field_values()

    def read_field_values(self) -> None:
        """One ``nvmlDeviceGetFieldValues`` call for `FIELD_IDS` and `TLIMIT_IDS`, each value checked alone."""
        ids = [*FIELD_IDS.values(), *TLIMIT_IDS.values()]
        try:
            answers = self.call("nvmlDeviceGetFieldValues", ids)
        except FieldUnread as exc:
            answers = exc
        for position, name in enumerate(FIELD_IDS):
            self.fill((name,), self._field_value, answers, position, name)
        tlimit_c = None if isinstance(answers, FieldUnread) else self._tlimit_c()
        for position, name in enumerate(TLIMIT_IDS, start=len(FIELD_IDS)):
            self.fill((name,), self._threshold, answers, position, name, tlimit_c)

    def _bus_id(self) -> tuple[str]:
        info = self.call("nvmlDeviceGetPciInfo")
        return (_text(_member(info, "busId", "nvmlDeviceGetPciInfo"), "nvmlDeviceGetPciInfo"),)

    def _scalar(self, scalar: Scalar) -> tuple[Any]:
        return (convert(scalar.name, self.call_newest(scalar.calls, *scalar.args), scalar.calls[0]),)

    def _utilization(self) -> tuple[float]:
        rates = self.call("nvmlDeviceGetUtilizationRates")
        gpu = _member(rates, "gpu", "nvmlDeviceGetUtilizationRates")
        return (convert("util_pct", gpu, "nvmlDeviceGetUtilizationRates"),)

    def _memory(self) -> tuple[float, float]:
        info = self.call("nvmlDeviceGetMemoryInfo")
        used, total = (_member(info, key, "nvmlDeviceGetMemoryInfo") for key in ("used", "total"))
        return (
            convert("mem_used_mib", used, "nvmlDeviceGetMemoryInfo") / MIB,
            convert("mem_total_mib", total, "nvmlDeviceGetMemoryInfo") / MIB,
        )

    def _throttle(self) -> tuple[frozenset[str]]:
        calls = ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
        return (decode_throttle(self.call_newest(calls), calls[0]),)

    def _field_value(self, answers: Any, position: int, name: str) -> tuple[Any]:
        what = f"nvmlDeviceGetFieldValues({FIELD_IDS[name]})"
        return (convert(name, _answer(answers, position, FIELD_IDS[name]), what),)

    def _tlimit_c(self) -> float | None:
        """The absolute T.Limit temperature (current + margin) the T.Limit fields count back from."""
        temp_c = self.values.get("temp_c")
        if temp_c is None:
            return None
        try:
            margin = self.call("nvmlDeviceGetMarginTemperature")
            return temp_c + convert("temp_c", margin, "nvmlDeviceGetMarginTemperature")
        except FieldUnread:
            return None

    def _threshold(self, answers: Any, position: int, name: str, tlimit_c: float | None) -> tuple[float]:
        """A threshold from its T.Limit field when possible, else from the older absolute call."""
        if tlimit_c is not None:
            with suppress(FieldUnread):
                margin = convert(name, _answer(answers, position, TLIMIT_IDS[name]), "T.Limit")
                return (tlimit_c - margin,)
        raw = self.call("nvmlDeviceGetTemperatureThreshold", LEGACY_THRESHOLDS[name])
        return (convert(name, raw, "nvmlDeviceGetTemperatureThreshold"),)

    def _name(self, call: str) -> tuple[str]:
        return (_text(self.call(call), call),)


def _answer(answers: Any, position: int, field_id: int) -> Any:
    """The raw value of one ``c_nvmlFieldValue_t``, checked for its id, return code and type."""
    what = f"nvmlDeviceGetFieldValues({field_id})"
    if isinstance(answers, FieldUnread):
        raise answers
    try:
        answer = answers[position]
    except (IndexError, TypeError, KeyError):
        raise FieldUnread(f"{what}: missing from NVML's answer") from None
    if getattr(answer, "fieldId", None) != field_id:
        raise FieldUnread(f"{what}: NVML answered for another field")
    code = getattr(answer, "nvmlReturn", None)
    if code != 0:
        raise nvml_failure(code, what, f"NVML error {_shown(code)}")
    member = VALUE_MEMBERS.get(getattr(answer, "valueType", None))  # type: ignore[arg-type]
    if member is None:
        raise FieldUnread(f"{what}: unknown value type {_shown(getattr(answer, 'valueType', None))}")
    return getattr(getattr(answer, "value", None), member, None)
