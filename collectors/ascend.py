"""Huawei Ascend NPUs through the `npu-smi` tool; each chip (die) is one card.

A read spawns ``npu-smi info`` once (the table: health, power, temperature, AI core %, memory) and
``npu-smi info -t common -i N`` once per NPU (AI core clocks). Slower queries run on every
`SLOW_EVERY_READS`-th read only, and their last result is reused in between: ``-t ecc -i N`` per NPU,
``-t health -i N -c C`` for chips whose table health is not ``OK`` (also at once when that health
changes), and ``info -m`` (logic ids) until it has answered. Each call costs about 10-20 ms.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import ClassVar, Final, TypeVar

from cardwatch.collectors import CollectorUnavailable, default_node, npu_smi
from cardwatch.model import CardSample, CardState

Runner = Callable[[Sequence[str], float], str]
T = TypeVar("T")

NOT_FOUND: Final = (
    "npu-smi was not found on PATH: install the Ascend NPU driver package, which provides "
    "/usr/local/bin/npu-smi, or add the folder that holds npu-smi to PATH."
)
CLOCK_FIELDS: Final = ("sm_clock_mhz", "sm_clock_max_mhz")
ECC_FIELDS: Final = tuple(f.name for f in fields(npu_smi.EccCounts) if f.name != "errors")
HEALTH_FIELDS: Final = ("vendor_health_detail", "error_codes")
ECC_NOT_YET: Final = "npu-smi info -t ecc runs on slow reads only and has not run for this NPU yet"


class QueryFailed(Exception):
    """One npu-smi call gave no usable output; the message is the reason shown on the cards."""


def run_npu_smi(argv: Sequence[str], timeout_s: float) -> str:
    """Run npu-smi in its own process group, so a hung call is killed together with its children."""
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv), _text(out), _text(err))
    return _text(out)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""


def _first_line(text: str) -> str:
    return next((line.strip()[:200] for line in text.splitlines() if line.strip()), "no output")


class AscendCollector:
    """Ascend chips of this node: ``AscendCollector(node=None, run=None, timeout_s=5.0)``.

    `run(argv, timeout_s)` returns npu-smi's stdout or raises (`run_npu_smi` by default).
    """

    name: ClassVar[str] = "ascend"
    SLOW_EVERY_READS: ClassVar[int] = 10

    def __init__(self, node: str | None = None, run: Runner | None = None, timeout_s: float = 5.0) -> None:
        self.node = node or default_node()
        self.run = run or run_npu_smi
        self.timeout_s = timeout_s
        self._reads = 0
        self._timed_out = False
        self._logic_ids: dict[tuple[int, int], int] = {}
        self._ecc: dict[int, dict[int, npu_smi.EccCounts] | str] = {}
        self._health: dict[tuple[int, int], tuple[str, npu_smi.HealthInfo | str]] = {}
        self._known: list[CardSample] = []

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """Ascend is here when npu-smi is on PATH or the davinci manager device exists."""
        return shutil.which("npu-smi") is not None or (root / "dev" / "davinci_manager").exists()

    def close(self) -> None:
        """Nothing to release: every read runs fresh npu-smi processes."""

    def read(self) -> list[CardSample]:
        """One sample per chip; a failed table marks every known chip as errored, or raises if none is known."""
        now = time.time()
        self._timed_out = False
        slow = self._reads % self.SLOW_EVERY_READS == 0
        self._reads += 1
        try:
            table = npu_smi.parse_table(self._query())
        except QueryFailed as exc:
            return self._all_failed(str(exc), now)
        if table.error is not None:
            return self._all_failed(f"npu-smi info: {table.error}", now)
        npus = list(dict.fromkeys(chip.npu_id for chip in table.chips))
        indexes = self._indexes(table.chips, slow)
        common = {npu: self._detail(npu_smi.parse_common, "-t", "common", "-i", str(npu)) for npu in npus}
        if slow:
            self._ecc = {npu: self._detail(npu_smi.parse_ecc, "-t", "ecc", "-i", str(npu)) for npu in npus}
        chips_per_npu = {npu: sum(1 for chip in table.chips if chip.npu_id == npu) for npu in npus}
        samples = [
            self._sample(chip, index, now, common[chip.npu_id], chips_per_npu[chip.npu_id], slow)
            for chip, index in zip(table.chips, indexes, strict=True)
        ]
        self._known = samples
        return samples

    def _query(self, *args: str) -> str:
        """Run one npu-smi call; every way it can fail becomes `QueryFailed` with the reason."""
        argv = ("npu-smi", "info", *args)
        command = " ".join(argv)
        if self._timed_out:
            raise QueryFailed(f"{command} skipped: an earlier npu-smi call in this read timed out")
        try:
            text = self.run(argv, self.timeout_s)
        except FileNotFoundError:
            raise CollectorUnavailable(NOT_FOUND) from None
        except (subprocess.TimeoutExpired, TimeoutError):
            self._timed_out = True
            raise QueryFailed(f"{command} timed out after {self.timeout_s:g} s") from None
        except subprocess.CalledProcessError as exc:
            output = _text(exc.stderr) + _text(exc.output)
            raise QueryFailed(
                f"{command} exited with status {exc.returncode}: {_first_line(output)}"
            ) from None
        except Exception as exc:
            raise QueryFailed(f"{command} failed: {exc}") from None
        problem = npu_smi.error_message(text)
        if problem is not None:
            raise QueryFailed(f"{command}: {problem}")
        return text

    def _detail(self, parse: Callable[[str], T], *args: str) -> T | str:
        """A parsed detail query, or the reason it failed."""
        try:
            return parse(self._query(*args))
        except QueryFailed as exc:
            return str(exc)

    def _indexes(self, chips: Sequence[npu_smi.TableChip], slow: bool) -> list[int]:
        """Chip logic ids from ``npu-smi info -m`` when it covers every chip, else table order.

        The mapping is static, so it is asked for again only on slow reads while it misses a chip.
        """
        ids = [self._logic_ids.get((chip.npu_id, chip.chip_id)) for chip in chips]
        if None in ids and slow:
            mapping = self._detail(npu_smi.parse_mapping, "-m")
            self._logic_ids = mapping if isinstance(mapping, dict) else {}
            ids = [self._logic_ids.get((chip.npu_id, chip.chip_id)) for chip in chips]
        if None in ids or len(set(ids)) != len(ids):
            return list(range(len(chips)))
        return [index for index in ids if index is not None]

    def _all_failed(self, reason: str, now: float) -> list[CardSample]:
        if not self._known:
            raise CollectorUnavailable(reason)
        return [_identity(s, now, CardState.ERROR, reason) for s in self._known]

    def _sample(
        self,
        chip: npu_smi.TableChip,
        index: int,
        now: float,
        common: npu_smi.CommonInfo | str,
        chips_on_npu: int,
        slow: bool,
    ) -> CardSample:
        values: dict[str, object] = {name: getattr(chip, name) for name in _TABLE_FIELDS}
        errors = dict(chip.errors)
        _merge_common(values, errors, chip, common, chips_on_npu)
        _merge_ecc(values, errors, chip, self._ecc.get(chip.npu_id, ECC_NOT_YET))
        health = chip.health
        if health is not None and health not in npu_smi.HEALTH_STATES:
            errors["vendor_health"] = f"unknown health state {health[:40]!r}"
            health = None
        if health not in (None, "OK"):
            _merge_health(values, errors, self._health_detail(chip, health, slow))
        state, reason = CardState.OK, None
        if chip.problem is not None:
            state, reason = CardState.ERROR, f"npu-smi info: {chip.problem}"
        elif health == "UNKNOWN":
            state, reason = CardState.LOST, "npu-smi reports health UNKNOWN (device absent or not started)"
        return CardSample(
            node=self.node,
            vendor="huawei",
            source=self.name,
            index=index,
            ts=now,
            state=state,
            state_reason=reason,
            vendor_health=health,
            field_errors=errors,
            **values,
        )

    def _health_detail(self, chip: npu_smi.TableChip, health: str, slow: bool) -> npu_smi.HealthInfo | str:
        """`-t health` for a chip that is not OK, cached until the slow tick or a change of health."""
        key = (chip.npu_id, chip.chip_id)
        cached = self._health.get(key)
        if slow or cached is None or cached[0] != health:
            args = ("-t", "health", "-i", str(chip.npu_id), "-c", str(chip.chip_id))
            cached = (health, self._detail(npu_smi.parse_health, *args))
            self._health[key] = cached
        return cached[1]


_TABLE_FIELDS: Final = ("model", "bus_id", "power_w", "temp_c", "util_pct", "mem_used_mib", "mem_total_mib")


def _identity(sample: CardSample, now: float, state: CardState, reason: str) -> CardSample:
    """The card's identity only, marked with a state and its reason."""
    return CardSample(
        node=sample.node,
        vendor=sample.vendor,
        source=sample.source,
        index=sample.index,
        ts=now,
        model=sample.model,
        bus_id=sample.bus_id,
        state=state,
        state_reason=reason,
    )


def _merge_common(
    values: dict[str, object],
    errors: dict[str, str],
    chip: npu_smi.TableChip,
    common: npu_smi.CommonInfo | str,
    chips_on_npu: int,
) -> None:
    """AI core clocks from ``-t common``; its temperature and power fill only what the table left absent."""
    if isinstance(common, str):
        errors.update(dict.fromkeys(CLOCK_FIELDS, common))
        return
    block = common.chips.get(chip.chip_id)
    if block is None:
        errors.update(
            dict.fromkeys(
                CLOCK_FIELDS,
                f"npu-smi info -t common -i {chip.npu_id} printed no block for chip {chip.chip_id}",
            )
        )
        return
    for name in (*CLOCK_FIELDS, "temp_c", "power_w"):
        if values.get(name) is None and name not in errors:
            values[name] = getattr(block, name)
            if name in block.errors:
                errors[name] = block.errors[name]
    if values["power_w"] is None and "power_w" not in errors and chips_on_npu == 1:
        values["power_w"] = common.mcu_power_w


def _merge_ecc(
    values: dict[str, object],
    errors: dict[str, str],
    chip: npu_smi.TableChip,
    ecc: dict[int, npu_smi.EccCounts] | str,
) -> None:
    if isinstance(ecc, str):
        errors.update(dict.fromkeys(ECC_FIELDS, ecc))
    elif chip.chip_id not in ecc:
        errors.update(
            dict.fromkeys(
                ECC_FIELDS, f"npu-smi info -t ecc -i {chip.npu_id} printed no block for chip {chip.chip_id}"
            )
        )
    else:
        counts = ecc[chip.chip_id]
        values.update({name: getattr(counts, name) for name in ECC_FIELDS})
        errors.update(counts.errors)


def _merge_health(values: dict[str, object], errors: dict[str, str], info: npu_smi.HealthInfo | str) -> None:
    if isinstance(info, str):
        errors.update(dict.fromkeys(HEALTH_FIELDS, info))
        return
    values["vendor_health_detail"] = info.detail
    values["error_codes"] = info.error_codes
    errors.update({name: why for name, why in info.errors.items() if name in HEALTH_FIELDS})
