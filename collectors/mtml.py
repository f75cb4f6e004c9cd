"""Moore Threads GPUs through MTML: pymtml's NVML-compatible functions, read by the NVML collector.

pymtml (PyPI ``mthreads-ml-py``, the ``cardwatch[mthreads]`` extra) maps ``nvml*`` calls onto libmtml.
Some of its shims answer a call they cannot make with 0 (fan speed, power limit) or an empty list
(field values), so only the calls that map onto a real MTML function are passed through; the NVML
collector reports every other field as absent. MTML's return codes differ from NVML's (NOT_SUPPORTED is
4, GPU_IS_LOST 669) and are translated here, so `nvml_calls` gives each error its usual meaning. ``auto``
never picks this collector: it reads the same GPUs as ``mthreads``, so it is chosen by name.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final

from cardwatch.collectors import CollectorUnavailable
from cardwatch.collectors.nvml import NvmlCollector
from cardwatch.collectors.nvml_calls import INIT_CALLS, Ret
from cardwatch.collectors.tool import pci_functions

MTHREADS_PCI_VENDOR: Final = "0x1ed5"
PASSED_CALLS: Final = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetSerial",
    "nvmlDeviceGetPciInfo",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetMaxClockInfo",
)
"""pymtml's nvml* functions that call a real MTML function for every argument the NVML collector passes."""
NVML_CODE: Final[dict[int, int]] = {
    1: Ret.DRIVER_NOT_LOADED,
    3: Ret.INVALID_ARGUMENT,
    4: Ret.NOT_SUPPORTED,
    5: Ret.NO_PERMISSION,
    11: Ret.TIMEOUT,
    667: Ret.FUNCTION_NOT_FOUND,
    669: Ret.GPU_IS_LOST,
    670: Ret.LIBRARY_NOT_FOUND,
    999: Ret.UNKNOWN,
}
"""MTML return code -> the NVML code with the same meaning; codes not listed become NVML's UNKNOWN."""
NOT_INSTALLED: Final = "MTML is not available: the mthreads-ml-py package is not installed, so pip install 'cardwatch[mthreads]'."


class NvmlShapedError(Exception):
    """An MTML error carrying the NVML return code (`value`) the NVML collector understands."""

    def __init__(self, value: int, text: str) -> None:
        super().__init__(text)
        self.value = value


def as_nvml(pymtml: ModuleType) -> ModuleType:
    """A module with pymtml's faithful nvml* functions whose errors carry NVML return codes."""
    module = ModuleType("cardwatch_mtml_as_nvml")
    module.NVMLError = NvmlShapedError  # type: ignore[attr-defined]
    for call in PASSED_CALLS:
        if hasattr(pymtml, call):
            setattr(module, call, _translated(pymtml, call))
    return module


def _translated(pymtml: ModuleType, call: str) -> Callable[..., Any]:
    fn = getattr(pymtml, call)

    def translated(*args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as exc:  # pymtml raises it when libmtml.so cannot be loaded
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CollectorUnavailable(
                f"MTML is not available: {reason}; install the Moore Threads driver."
            ) from None
        except pymtml.MTMLError as exc:
            if call in INIT_CALLS:
                raise CollectorUnavailable(f"MTML is not available: {call} failed ({exc}).") from None
            raise NvmlShapedError(_nvml_code(getattr(exc, "value", None)), str(exc)) from None

    return translated


def _nvml_code(code: object) -> int:
    return NVML_CODE.get(code, Ret.UNKNOWN) if isinstance(code, int) else Ret.UNKNOWN


class MtmlCollector(NvmlCollector):
    """Moore Threads GPUs through MTML: ``MtmlCollector(node="mt-01")``; `mtml` injects a pymtml-shaped module."""

    name: ClassVar[str] = "mtml"
    vendor: ClassVar[str] = "mthreads"

    def __init__(
        self, node: str | None = None, mtml: ModuleType | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(node=node, nvml=as_nvml(mtml) if mtml is not None else None, clock=clock)

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """A Moore Threads PCI function under ``root/sys`` and pymtml installed (nothing is imported)."""
        return (
            bool(pci_functions(root / "sys", MTHREADS_PCI_VENDOR))
            and importlib.util.find_spec("pymtml") is not None
        )

    def _module(self) -> ModuleType:
        if self._nvml is None:
            try:
                import pymtml
            except ImportError:
                raise CollectorUnavailable(NOT_INSTALLED) from None
            self._nvml = as_nvml(pymtml)
        return self._nvml
