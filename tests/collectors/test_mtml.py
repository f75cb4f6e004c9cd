"""The MTML collector: the real pymtml's nvml* shims, run by the NVML collector, over faked libmtml calls.

pymtml's low-level ``mtml*`` functions (each one C call into libmtml) are replaced with fakes answering in
MTML's units (°C, mW, bytes, MHz); everything above them, pymtml's shims and cardwatch's adapter and NVML
logic, is the real code. Values are those of GPU 0 in the captured S5000 table and JSON excerpt.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from cardwatch.collectors import CollectorUnavailable, load
from cardwatch.collectors.mtml import MtmlCollector, as_nvml
from cardwatch.model import CardState

pymtml = pytest.importorskip("pymtml")

GIB = 1024**3
GPU0: dict[str, Any] = {
    "name": "MTT S5000",
    "uuid": "399282a8-ba01-1475-893c-2eeca9e302f5",
    "serial": "MY10YL225BF06077",
}
VALUES: dict[str, Any] = {
    "mtmlGpuGetTemperature": 48,
    "mtmlDeviceGetPowerUsage": 96660,
    "mtmlMemoryGetTotal": 80 * GIB,
    "mtmlMemoryGetUsed": 2 * GIB,
    "mtmlGpuGetUtilization": 37,
    "mtmlMemoryGetUtilization": 3,
    "mtmlGpuGetClock": 1600,
    "mtmlGpuGetMaxClock": 2000,
    "mtmlMemoryGetClock": 7000,
    "mtmlMemoryGetMaxClock": 7000,
}


class FakeLibmtml:
    """Stands in for libmtml below pymtml: per-call answers, or an MTML error code to raise."""

    def __init__(self, devices: int = 2) -> None:
        self.devices = devices
        self.answers: dict[str, Any] = dict(VALUES)
        self.failing: dict[str, int] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for call in VALUES:
            monkeypatch.setattr(pymtml, call, self._answer(call))
        simple = {
            "mtmlLibraryInit": lambda: None,
            "mtmlLibraryShutDown": lambda: None,
            "mtmlLibraryCountDevice": lambda: self.devices,
            "mtmlLibraryInitDeviceByIndex": self._device,
            "mtmlDeviceInitGpu": lambda device: ("gpu", device),
            "mtmlDeviceFreeGpu": lambda gpu: None,
            "mtmlDeviceInitMemory": lambda device: ("memory", device),
            "mtmlDeviceFreeMemory": lambda memory: None,
            "mtmlDeviceGetName": lambda device: GPU0["name"],
            "mtmlDeviceGetUUID": lambda device: GPU0["uuid"],
            "mtmlDeviceGetSerialNumber": lambda device: GPU0["serial"],
            "mtmlDeviceGetPciInfo": self._pci,
        }
        for call, fn in simple.items():
            monkeypatch.setattr(pymtml, call, fn)

    def _device(self, index: int) -> int:
        if "mtmlLibraryInitDeviceByIndex" in self.failing:
            raise pymtml.MTMLError(self.failing["mtmlLibraryInitDeviceByIndex"])
        return 100 + index

    def _pci(self, device: int) -> Any:
        info = pymtml.c_mtmlPciInfo_t()
        info.sbdf = f"00000000:{0x18 + device - 100:02x}:00.0".encode()
        return info

    def _answer(self, call: str) -> Any:
        def answer(*args: Any) -> Any:
            if call in self.failing:
                raise pymtml.MTMLError(self.failing[call])
            return self.answers[call]

        return answer


@pytest.fixture
def lib(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLibmtml]:
    fake = FakeLibmtml()
    fake.install(monkeypatch)
    yield fake


def test_values_come_through_in_cardwatch_units(lib: FakeLibmtml) -> None:
    gpu0, gpu1 = MtmlCollector(node="mt-01", mtml=pymtml, clock=lambda: 1.0).read()
    assert (gpu0.vendor, gpu0.source, gpu0.model, gpu0.bus_id) == (
        "mthreads",
        "mtml",
        "MTT S5000",
        "00000000:18:00.0",
    )
    assert (gpu0.temp_c, gpu0.power_w, gpu0.util_pct) == (48.0, 96.66, 37.0)
    assert (gpu0.mem_used_mib, gpu0.mem_total_mib) == (2048.0, 81920.0)
    assert (gpu0.sm_clock_mhz, gpu0.sm_clock_max_mhz, gpu0.mem_clock_mhz) == (1600.0, 2000.0, 7000.0)
    assert gpu1.bus_id == "00000000:19:00.0"


def test_shims_that_answer_zero_are_not_passed_through(lib: FakeLibmtml) -> None:
    """pymtml returns 0 for fan speed and power limit it cannot read: those must stay unknown."""
    gpu0 = MtmlCollector(node="mt-01", mtml=pymtml).read()[0]
    assert gpu0.fan_pct is None and gpu0.power_limit_w is None and gpu0.ecc_corrected_volatile is None
    assert gpu0.field_errors["fan_pct"] == "nvmlDeviceGetFanSpeed: not in this driver version"
    assert gpu0.field_errors["ecc_corrected_volatile"].startswith("nvmlDeviceGetFieldValues: not in this")
    assert not hasattr(as_nvml(pymtml), "nvmlDeviceGetFieldValues")


def test_mtml_not_supported_is_an_absent_field_not_a_failure(lib: FakeLibmtml) -> None:
    lib.failing["mtmlDeviceGetPowerUsage"] = pymtml.MTML_ERROR_NOT_SUPPORTED
    gpu0 = MtmlCollector(node="mt-01", mtml=pymtml).read()[0]
    assert gpu0.state is CardState.OK and gpu0.power_w is None
    assert gpu0.field_errors["power_w"] == "nvmlDeviceGetPowerUsage: not supported by this GPU"


def test_mtml_gpu_is_lost_marks_the_card_lost(lib: FakeLibmtml) -> None:
    lib.failing["mtmlGpuGetTemperature"] = pymtml.MTML_ERROR_GPU_IS_LOST
    gpu0 = MtmlCollector(node="mt-01", mtml=pymtml).read()[0]
    assert gpu0.state is CardState.LOST and gpu0.state_reason == "GPU is lost (fell off the bus)"


def test_init_failure_is_unavailable_with_mtml_words(
    lib: FakeLibmtml, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_driver() -> None:
        raise pymtml.MTMLError(pymtml.MTML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pymtml, "mtmlLibraryInit", no_driver)
    with pytest.raises(CollectorUnavailable, match=r"^MTML is not available: nvmlInit failed"):
        MtmlCollector(node="mt-01", mtml=pymtml).read()


def test_without_libmtml_the_real_pymtml_is_unavailable_with_the_loader_error() -> None:
    """Nothing faked: this machine has no libmtml.so, and pymtml raises OSError for it."""
    collector = MtmlCollector(node="mt-01")
    with pytest.raises(CollectorUnavailable, match=r"^MTML is not available: Failed to load MTML library"):
        collector.read()
    collector.close()


def test_an_unknown_mtml_code_is_nvml_unknown() -> None:
    fake = ModuleType("pymtml_like")
    fake.MTMLError = type("MTMLError", (Exception,), {"value": 12345})  # type: ignore[attr-defined]

    def broken(device: Any) -> int:
        raise fake.MTMLError("odd")  # type: ignore[attr-defined]

    fake.nvmlDeviceGetPowerUsage = broken  # type: ignore[attr-defined]
    with pytest.raises(as_nvml(fake).NVMLError) as raised:
        as_nvml(fake).nvmlDeviceGetPowerUsage(0)
    assert raised.value.value == 999


def test_registered_never_auto_and_absent_here() -> None:
    from cardwatch.collectors import AUTO_ORDER

    assert load("mtml") is MtmlCollector
    assert "mtml" not in AUTO_ORDER and not MtmlCollector.probe()
