"""A fake pynvml at the function boundary, so NvmlCollector runs without a GPU.

It re-exports the real pynvml's constants, ctypes structs and NVMLError classes, and answers the
device functions from a JSON fixture (tests/fixtures/nvml/*.json, NVML units). Tests make calls fail
with the real error classes (`fail`, `fail_field`), replace answers with arbitrary values (`answer`,
`answer_field`), queue Xid events (`queue_xid`), and read which calls succeeded from `log`.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pynvml

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nvml"
UNION_MEMBER = {
    pynvml.NVML_VALUE_TYPE_DOUBLE: "dVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal",
}


def error_class(name: str) -> type[pynvml.NVMLError]:
    """The real pynvml error class for a short name such as ``NotSupported``."""
    return getattr(pynvml, f"NVMLError_{name}")


def _merged(common: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    merged = {**common, **device}
    for key in ("fields", "errors"):
        merged[key] = {**common.get(key, {}), **device.get(key, {})}
    return merged


class FakeNvml(ModuleType):
    """pynvml as a driver with the fixture's GPUs would answer it."""

    def __init__(self, fixture: str = "h100x8.json", cards: int | None = None) -> None:
        super().__init__("pynvml")
        for name, value in vars(pynvml).items():
            if not name.startswith("__") and not isinstance(value, FunctionType):
                setattr(self, name, value)
        data = json.loads((FIXTURES / fixture).read_text())
        self.devices = [_merged(data["common"], d) for d in data["devices"][:cards]]
        self.handles = [
            ctypes.cast(ctypes.c_void_p(0x7F0000 + 0x1000 * i), pynvml.c_nvmlDevice_t)
            for i in range(len(self.devices))
        ]
        self.failures: dict[tuple[int | None, str], type[pynvml.NVMLError]] = {}
        self.answers: dict[tuple[int, str], Any] = {}
        self.field_answers: dict[tuple[int, int], tuple[int, int, Any]] = {}
        self.events: list[tuple[int, int]] = []
        self.registered: set[int] = set()
        self.wait_timeouts_ms: list[int] = []
        self.log: list[tuple[int | None, str, bool]] = []
        self.init_count = 0
        self.event_sets_freed = 0

    def fail(self, call: str, error: type[pynvml.NVMLError], index: int | None = None) -> None:
        """Make `call` (or ``call:arg``) raise `error`, on one card or (index None) on all."""
        self.failures[(index, call)] = error

    def fail_field(self, index: int, field_id: int, code: int) -> None:
        """Make one field of nvmlDeviceGetFieldValues come back with return code `code`."""
        self.field_answers[(index, field_id)] = (code, pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, 0)

    def answer(self, index: int, label: str, value: Any) -> None:
        """Make ``call`` or ``call:arg`` return `value` as is (no struct is built around it)."""
        self.answers[(index, label)] = value

    def answer_field(self, index: int, field_id: int, code: int, value_type: int, value: Any) -> None:
        self.field_answers[(index, field_id)] = (code, value_type, value)

    def queue_xid(self, index: int, xid: int) -> None:
        self.events.append((index, xid))

    def succeeded(self, index: int, label: str) -> bool:
        """Whether a call with this label returned a value for card `index` in the log."""
        return any(entry == (index, label, True) for entry in self.log)

    def _raise_if_failing(self, index: int | None, call: str, label: str) -> None:
        error = self.failures.get((index, label)) or self.failures.get((index, call))
        error = error or self.failures.get((None, label)) or self.failures.get((None, call))
        if error is None and index is not None and call in self.devices[index]["errors"]:
            error = error_class(self.devices[index]["errors"][call])
        if error is not None:
            self.log.append((index, label, False))
            raise error()

    def _index(self, handle: Any) -> int:
        address = ctypes.cast(handle, ctypes.c_void_p).value
        for index, known in enumerate(self.handles):
            if ctypes.cast(known, ctypes.c_void_p).value == address:
                return index
        raise pynvml.NVMLError_InvalidArgument()

    def _device(
        self,
        handle: Any,
        call: str,
        *args: Any,
        key: str | None = None,
        build: Callable[[Any], Any] | None = None,
    ) -> Any:
        self._require_init()
        index = self._index(handle)
        label = f"{call}:{args[0]}" if args else call
        self._raise_if_failing(index, call, label)
        self.log.append((index, label, True))
        if (index, label) in self.answers:
            return self.answers[(index, label)]
        value = self.devices[index][key or call]
        if isinstance(value, dict):
            value = value[str(args[0])] if args else value
        return build(value) if build else value

    def _require_init(self) -> None:
        if self.init_count <= 0:
            raise pynvml.NVMLError_Uninitialized()

    def nvmlInit(self) -> None:
        self._raise_if_failing(None, "nvmlInit", "nvmlInit")
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self._require_init()
        self.init_count -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._require_init()
        self._raise_if_failing(None, "nvmlDeviceGetCount", "nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._require_init()
        self._raise_if_failing(index, "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByIndex")
        return self.handles[index]

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._device(handle, "nvmlDeviceGetName")

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._device(handle, "nvmlDeviceGetUUID")

    def nvmlDeviceGetSerial(self, handle: Any) -> str:
        return self._device(handle, "nvmlDeviceGetSerial")

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        return self._device(
            handle, "nvmlDeviceGetPciInfo", build=lambda v: pynvml.nvmlPciInfo_t(busId=v.encode())
        )

    def nvmlDeviceGetTemperatureV(self, handle: Any, sensor: int) -> int:
        return self._device(handle, "nvmlDeviceGetTemperatureV", sensor, key="nvmlDeviceGetTemperature")

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        return self._device(handle, "nvmlDeviceGetTemperature", sensor)

    def nvmlDeviceGetMarginTemperature(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetMarginTemperature")

    def nvmlDeviceGetTemperatureThreshold(self, handle: Any, threshold: int) -> int:
        return self._device(handle, "nvmlDeviceGetTemperatureThreshold", threshold)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetPowerUsage")

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetEnforcedPowerLimit")

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetPowerManagementDefaultLimit")

    def nvmlDeviceGetClockInfo(self, handle: Any, clock: int) -> int:
        return self._device(handle, "nvmlDeviceGetClockInfo", clock)

    def nvmlDeviceGetMaxClockInfo(self, handle: Any, clock: int) -> int:
        return self._device(handle, "nvmlDeviceGetMaxClockInfo", clock)

    def nvmlDeviceGetFanSpeed(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetFanSpeed")

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetCurrPcieLinkGeneration")

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetMaxPcieLinkGeneration")

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetCurrPcieLinkWidth")

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetMaxPcieLinkWidth")

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        build = lambda v: pynvml.c_nvmlUtilization_t(**v)  # noqa: E731
        return self._device(handle, "nvmlDeviceGetUtilizationRates", build=build)

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        return self._device(handle, "nvmlDeviceGetMemoryInfo", build=lambda v: pynvml.c_nvmlMemory_t(**v))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._device(handle, "nvmlDeviceGetCurrentClocksEventReasons")

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: Any) -> int:
        call = "nvmlDeviceGetCurrentClocksThrottleReasons"
        return self._device(handle, call, key="nvmlDeviceGetCurrentClocksEventReasons")

    def nvmlDeviceGetFieldValues(self, handle: Any, field_ids: list[int]) -> Any:
        """Real ``c_nvmlFieldValue_t`` array; each value carries its own nvmlReturn."""
        self._device(handle, "nvmlDeviceGetFieldValues", build=lambda v: None, key="fields")
        index = self._index(handle)
        values = (pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for slot, field_id in zip(values, field_ids, strict=True):
            code, value_type, value = self._field(index, field_id)
            slot.fieldId, slot.nvmlReturn, slot.valueType = field_id, code, value_type
            if code == pynvml.NVML_SUCCESS and value_type in UNION_MEMBER:
                setattr(slot.value, UNION_MEMBER[value_type], value)
            self.log.append((index, f"field:{field_id}", code == pynvml.NVML_SUCCESS))
        return values

    def _field(self, index: int, field_id: int) -> tuple[int, int, Any]:
        if (index, field_id) in self.field_answers:
            return self.field_answers[(index, field_id)]
        spec = self.devices[index]["fields"].get(str(field_id), {"error": "InvalidArgument"})
        if "error" in spec:
            return error_class(spec["error"])().value, pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, 0
        return pynvml.NVML_SUCCESS, spec["type"], spec["value"]

    def nvmlEventSetCreate(self) -> Any:
        self._require_init()
        self._raise_if_failing(None, "nvmlEventSetCreate", "nvmlEventSetCreate")
        return pynvml.c_nvmlEventSet_t()

    def nvmlDeviceRegisterEvents(self, handle: Any, event_types: int, event_set: Any) -> None:
        self._require_init()
        index = self._index(handle)
        self._raise_if_failing(index, "nvmlDeviceRegisterEvents", "nvmlDeviceRegisterEvents")
        if event_types & pynvml.nvmlEventTypeXidCriticalError:
            self.registered.add(index)

    def nvmlEventSetWait(self, event_set: Any, timeout_ms: int) -> Any:
        self._require_init()
        self.wait_timeouts_ms.append(timeout_ms)
        self._raise_if_failing(None, "nvmlEventSetWait", "nvmlEventSetWait")
        pending = [event for event in self.events if event[0] in self.registered]
        if not pending:
            raise pynvml.NVMLError_Timeout()
        self.events.remove(pending[0])
        data = pynvml.c_nvmlEventData_t()
        data.device = self.handles[pending[0][0]]
        data.eventType = pynvml.nvmlEventTypeXidCriticalError
        data.eventData = pending[0][1]
        return data

    def nvmlEventSetFree(self, event_set: Any) -> None:
        self._require_init()
        self.event_sets_freed += 1
