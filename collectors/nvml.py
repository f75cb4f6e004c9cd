"""NVIDIA GPUs through NVML (the ``pynvml`` module of ``nvidia-ml-py``), one sample per GPU.

The binding module is injected, so tests and NVML-shaped libraries of other vendors can stand in for
pynvml; pynvml itself is imported only when a collector first reads. What each NVML error means is
decided in `cardwatch.collectors.nvml_calls`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final

from cardwatch.collectors import CollectorUnavailable, default_node
from cardwatch.collectors.nvml_calls import CardDown, FieldUnread, NvmlProblem, query
from cardwatch.collectors.nvml_card import IDENTITY, CardReader, convert
from cardwatch.collectors.nvml_xid import XidWatch
from cardwatch.model import CardSample, CardState

PROBE_PATHS: Final = ("dev/nvidiactl", "proc/driver/nvidia/version")


class NvmlCollector:
    """NVIDIA GPUs of this node through NVML: ``NvmlCollector(node="gpu-07")``.

    `nvml` is the binding module (pynvml when None, imported at the first read); `clock` gives ``ts``.
    """

    name: ClassVar[str] = "nvml"
    vendor: ClassVar[str] = "nvidia"

    def __init__(
        self,
        node: str | None = None,
        nvml: ModuleType | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node or default_node()
        self.clock = clock
        self._nvml = nvml
        self._xids: XidWatch | None = None
        self._identity: dict[int, dict[str, Any]] = {}

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """An NVIDIA driver is present when its control device or its /proc entry exists under `root`."""
        return any((root / path).exists() for path in PROBE_PATHS)

    def read(self) -> list[CardSample]:
        """One sample per GPU; raises `CollectorUnavailable` when NVML cannot be used at all."""
        nvml, xids = self._start()
        count = self._count(nvml)
        ts = self.clock()
        handles = {index: self._handle(nvml, index) for index in range(count)}
        for index, handle in handles.items():
            if not isinstance(handle, CardDown):
                xids.register(index, handle)
        codes, drain_error = xids.drain()
        return [
            self._sample(
                nvml, index, handle, ts, codes.get(index, ()), xids.unwatched.get(index) or drain_error
            )
            for index, handle in handles.items()
        ]

    def close(self) -> None:
        """Free the event set and shut NVML down; safe to call twice."""
        if self._xids is None:
            return
        self._xids.close()
        self._xids = None
        self._identity.clear()
        with suppress(NvmlProblem):
            query(self._module(), "nvmlShutdown")

    def _module(self) -> ModuleType:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError:
                raise CollectorUnavailable(
                    "NVML is not available: the nvidia-ml-py package is not installed, so pip install it."
                ) from None
            self._nvml = pynvml
        return self._nvml

    def _start(self) -> tuple[ModuleType, XidWatch]:
        nvml = self._module()
        if self._xids is None:
            query(nvml, "nvmlInit")
            self._xids = XidWatch(nvml)
        return nvml, self._xids

    def _count(self, nvml: ModuleType) -> int:
        """How many GPUs NVML sees; if NVML stopped answering, shut it down so the next read starts afresh."""
        try:
            return convert("index", query(nvml, "nvmlDeviceGetCount"), "nvmlDeviceGetCount")
        except FieldUnread as exc:
            problem = CollectorUnavailable(f"NVML is not available: {exc.reason}.")
        except CollectorUnavailable as exc:
            problem = exc
        self.close()
        raise problem

    def _handle(self, nvml: ModuleType, index: int) -> Any:
        try:
            return query(nvml, "nvmlDeviceGetHandleByIndex", index)
        except CardDown as down:
            return down
        except FieldUnread as exc:
            return CardDown(CardState.ERROR, exc.reason, exc.code)

    def _sample(
        self,
        nvml: ModuleType,
        index: int,
        handle: Any,
        ts: float,
        xids: tuple[int, ...],
        xid_error: str | None,
    ) -> CardSample:
        base = {"node": self.node, "vendor": self.vendor, "source": self.name, "index": index, "ts": ts}
        known = self._identity.get(index, {})
        if isinstance(handle, CardDown):
            return CardSample(**base, **known, state=handle.state, state_reason=handle.reason, xids=xids)
        reader = CardReader(nvml, handle)
        try:
            self._read_identity(reader, index)
            reader.read_metrics()
        except CardDown as down:
            found = {k: v for k, v in reader.values.items() if k in IDENTITY} or known
            return CardSample(**base, **found, state=down.state, state_reason=down.reason, xids=xids)
        if xid_error is not None:
            reader.errors["xids"] = xid_error
        return CardSample(**base, **reader.values, xids=xids, field_errors=reader.errors)

    def _read_identity(self, reader: CardReader, index: int) -> None:
        """Identity never changes while NVML is up, so once it is read in full it is remembered."""
        if index in self._identity:
            reader.values.update(self._identity[index])
            return
        reader.read_identity()
        if not reader.errors:
            self._identity[index] = dict(reader.values)
