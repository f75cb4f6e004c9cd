"""The one gate every NVML call passes through, and the one place NVML errors are given a meaning.

An NVML error becomes one of three outcomes: a value the GPU cannot give (`FieldUnread`: the field
stays ``None`` and ``field_errors`` says why), a GPU that stopped answering (`CardDown`: the card is
marked `CardState.LOST` or `CardState.ERROR`), or no usable NVML at all (`CollectorUnavailable`).
Calls go through the injected binding module, so NVML-shaped libraries of other vendors fit too.
"""

from __future__ import annotations

from enum import IntEnum
from types import ModuleType
from typing import Any, Final

from cardwatch.collectors import CollectorUnavailable
from cardwatch.model import CardState


class Ret(IntEnum):
    """The NVML return codes (nvml.h ``nvmlReturn_t``) that change what the collector does."""

    INVALID_ARGUMENT = 2
    NOT_SUPPORTED = 3
    NO_PERMISSION = 4
    DRIVER_NOT_LOADED = 9
    TIMEOUT = 10
    LIBRARY_NOT_FOUND = 12
    FUNCTION_NOT_FOUND = 13
    GPU_IS_LOST = 15
    RESET_REQUIRED = 16
    LIB_RM_VERSION_MISMATCH = 18
    NO_DATA = 21
    NOT_READY = 27
    GPU_NOT_FOUND = 28
    UNKNOWN = 999


_UNAVAILABLE: Final[dict[int | None, str]] = {
    Ret.LIBRARY_NOT_FOUND: "NVML is not available: libnvidia-ml.so.1 was not found, so install the "
    "NVIDIA driver or put its library directory on the loader path.",
    Ret.DRIVER_NOT_LOADED: "NVML is not available: the NVIDIA kernel driver is not loaded, so check "
    "`lsmod | grep nvidia` and the kernel log.",
    Ret.LIB_RM_VERSION_MISMATCH: "NVML is not available: libnvidia-ml.so.1 and the loaded nvidia kernel "
    "module are from different driver versions, so reload the module or reboot after the upgrade.",
    Ret.NO_PERMISSION: "NVML is not available: access to the GPUs was denied, so run the agent as a user "
    "allowed to open /dev/nvidia*.",
}
_ABSENT: Final[dict[int | None, str]] = {
    Ret.NOT_SUPPORTED: "not supported by this GPU",
    Ret.FUNCTION_NOT_FOUND: "not in this driver version",
    Ret.INVALID_ARGUMENT: "not available on this GPU",
    Ret.NO_DATA: "no data yet",
    Ret.NOT_READY: "driver not ready",
}
_DOWN: Final[dict[int | None, tuple[CardState, str]]] = {
    Ret.GPU_IS_LOST: (CardState.LOST, "GPU is lost (fell off the bus)"),
    Ret.GPU_NOT_FOUND: (CardState.LOST, "GPU not found"),
    Ret.RESET_REQUIRED: (CardState.ERROR, "GPU requires a reset"),
    Ret.UNKNOWN: (CardState.ERROR, "NVML reported an unknown error"),
}
INIT_CALLS: Final = ("nvmlInit", "nvmlDeviceGetCount")


class NvmlProblem(Exception):
    """An NVML call that did not give a value; `code` is its ``nvmlReturn_t`` when known."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class FieldUnread(NvmlProblem):
    """A value the GPU could not give: the field stays None and `reason` goes into field_errors."""


class CardDown(NvmlProblem):
    """The GPU itself stopped answering, so its whole sample is marked with `state`."""

    def __init__(self, state: CardState, reason: str, code: int | None = None) -> None:
        super().__init__(reason, code)
        self.state = state


def nvml_failure(code: int | None, call: str, text: str) -> Exception:
    """The one place that decides what an NVML error means (nvitop's ``nvmlQuery``)."""
    if call in INIT_CALLS:
        generic = f"NVML is not available: {call} failed ({text}), so check the driver with nvidia-smi."
        return CollectorUnavailable(_UNAVAILABLE.get(code, generic))
    if code in _DOWN:
        state, reason = _DOWN[code]
        return CardDown(state, reason, code)
    return FieldUnread(f"{call}: {_ABSENT.get(code, text)}", code)


def query(nvml: ModuleType, call: str, *args: Any) -> Any:
    """Call one function of the injected NVML binding, turning its errors into outcomes."""
    fn = getattr(nvml, call, None)
    if fn is None:
        raise nvml_failure(Ret.FUNCTION_NOT_FOUND, call, "not in this NVML binding")
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        raise nvml_failure(getattr(exc, "value", None), call, str(exc)) from None
