"""NVIDIA Xid events: registered once per GPU, drained at each read without blocking."""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from contextlib import suppress
from types import ModuleType
from typing import Any, Final

from cardwatch.collectors.nvml_calls import NvmlProblem, Ret, query

EVENT_XID_CRITICAL: Final = 0x8
MAX_EVENTS_PER_READ: Final = 1024


def handle_address(handle: Any) -> int | None:
    """The address behind an NVML device handle, which event data reports as ``device``."""
    try:
        return ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return None


class XidWatch:
    """Xid critical-error events of every GPU, registered once and drained without blocking."""

    def __init__(self, nvml: ModuleType) -> None:
        self.nvml = nvml
        self.event_set: Any = None
        self.setup_error: str | None = None
        self.watched: dict[int, int] = {}
        self.unwatched: dict[int, str] = {}
        try:
            self.event_set = query(nvml, "nvmlEventSetCreate")
        except NvmlProblem as exc:
            self.setup_error = f"Xid events: {exc.reason}"

    def register(self, index: int, handle: Any) -> None:
        """Watch one GPU for Xid events (once; a GPU that cannot be watched is remembered why)."""
        if index in self.watched.values() or index in self.unwatched:
            return
        if self.setup_error is not None:
            self.unwatched[index] = self.setup_error
            return
        try:
            query(self.nvml, "nvmlDeviceRegisterEvents", handle, EVENT_XID_CRITICAL, self.event_set)
        except NvmlProblem as exc:
            self.unwatched[index] = f"Xid events: {exc.reason}"
            return
        address = handle_address(handle)
        if address is None:
            self.unwatched[index] = "Xid events: device handle is not an NVML pointer"
        else:
            self.watched[address] = index

    def drain(self) -> tuple[dict[int, tuple[int, ...]], str | None]:
        """Xid codes per card index that arrived since the last drain, and why draining stopped early."""
        codes: dict[int, list[int]] = {}
        if self.event_set is None:
            return {}, None
        for _ in range(MAX_EVENTS_PER_READ):
            try:
                data = query(self.nvml, "nvmlEventSetWait", self.event_set, 0)
            except NvmlProblem as exc:
                if exc.code == Ret.TIMEOUT:
                    break
                return _tuples(codes), f"Xid events: {exc.reason}"
            event = self._xid_event(data)
            if event is not None:
                codes.setdefault(event[0], []).append(event[1])
        return _tuples(codes), None

    def _xid_event(self, data: Any) -> tuple[int, int] | None:
        """(card index, Xid) of one event of a watched GPU, or None for anything else."""
        index = self.watched.get(handle_address(getattr(data, "device", None)))  # type: ignore[arg-type]
        xid = getattr(data, "eventData", None)
        if index is None or getattr(data, "eventType", None) != EVENT_XID_CRITICAL:
            return None
        return (index, xid) if isinstance(xid, int) and not isinstance(xid, bool) else None

    def close(self) -> None:
        """Free the event set; errors are ignored because the GPU may be gone already."""
        if self.event_set is not None:
            with suppress(NvmlProblem):
                query(self.nvml, "nvmlEventSetFree", self.event_set)
            self.event_set = None


def _tuples(codes: Mapping[int, list[int]]) -> dict[int, tuple[int, ...]]:
    return {index: tuple(found) for index, found in codes.items()}
