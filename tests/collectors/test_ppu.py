"""The T-Head PPU collector against ppu-smi CSV built from nvidia-smi's documented CSV form.

No ppu-smi capture is public: the fixtures are SYNTHETIC (their names say so), with device 0's values
taken from gpustack-runtime's real 16x PPU-ZW810E detection output.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.ppu import PpuCollector
from cardwatch.collectors.ppu_smi import HEALTH_FIELDS, MAIN_FIELDS, parse_csv, query_args
from cardwatch.collectors.tool import UnknownFormat
from cardwatch.model import FIELD_KINDS, CardState, Throttle
from cardwatch.wire import sample_from_wire, sample_to_wire
from tests.collectors.tool_fake import FakeTool, fixture, golden, wire_without_ts

MAIN = fixture("ppu", "ppu-smi_query-gpu_csv_SYNTHETIC_zw810e_values-from-gpustack.txt")
HEALTH = fixture("ppu", "ppu-smi_query-gpu_csv_health_SYNTHETIC.txt")
MAIN_CMD = " ".join(("ppu-smi", *query_args(MAIN_FIELDS)))
HEALTH_CMD = " ".join(("ppu-smi", *query_args(HEALTH_FIELDS)))
INVALID_FIELD = subprocess.CalledProcessError(
    2,
    ["ppu-smi"],
    output="",
    stderr='Field "clocks_throttle_reasons.active" is not a valid field to query.\n',
)


def ppu(answers: dict[str, str | Exception]) -> tuple[PpuCollector, FakeTool]:
    fake = FakeTool(answers)
    return PpuCollector(node="ppu-01", run=fake, clock=lambda: 1000.0), fake


def test_read_matches_golden() -> None:
    samples = ppu({MAIN_CMD: MAIN, HEALTH_CMD: HEALTH})[0].read()
    assert wire_without_ts(samples) == golden("ppu", "zw810e-synthetic")
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_queries_ask_for_csv_with_a_header_and_bare_numbers() -> None:
    fake = ppu({MAIN_CMD: MAIN, HEALTH_CMD: HEALTH})
    fake[0].read()
    assert fake[1].calls[0].startswith("ppu-smi --query-gpu=index,uuid,name,pci.bus_id,temperature.gpu,")
    assert fake[1].calls[0].endswith(" --format=csv,nounits")


def test_a_second_query_ppu_smi_does_not_mirror_costs_only_its_fields() -> None:
    gpu0 = ppu({MAIN_CMD: MAIN, HEALTH_CMD: INVALID_FIELD})[0].read()[0]
    assert gpu0.temp_c == 34.0 and gpu0.throttle is None and gpu0.ecc_uncorrected_volatile is None
    assert gpu0.field_errors["throttle"].endswith(
        'Field "clocks_throttle_reasons.active" is not a valid field to query.'
    )


def test_throttle_mask_maps_to_nvml_reasons_and_keeps_the_mask() -> None:
    (gpu0,) = parse_csv(HEALTH.splitlines()[0] + "\n0, 0x0000000000000044, 3, 1\n", HEALTH_FIELDS)
    assert gpu0.values["throttle"] == {
        Throttle.SW_POWER_CAP,
        Throttle.HW_THERMAL,
        "ppu-smi:0x0000000000000044",
    }
    assert (gpu0.values["ecc_corrected_volatile"], gpu0.values["ecc_uncorrected_volatile"]) == (3, 1)


def test_nvidia_smi_cell_markers() -> None:
    lines = MAIN.splitlines()
    lost = lines[2].replace("37, 97.00", "[GPU is lost], [GPU is lost]")
    odd = lines[1].replace("93.00", "[Unknown Error]").replace("0, 91349", "lots, 91349")
    gpu0, gpu1 = parse_csv("\n".join([lines[0], odd, lost]) + "\n", MAIN_FIELDS)
    assert gpu0.state is CardState.OK and gpu0.values["power_w"] is None
    assert gpu0.errors == {"power_w": "ppu-smi says [Unknown Error]", "util_pct": "unreadable value 'lots'"}
    assert gpu0.values["sm_clock_mhz"] is None and "sm_clock_mhz" not in gpu0.errors
    assert (
        gpu1.state is CardState.LOST
        and gpu1.values["temp_c"] is None
        and gpu1.values["bus_id"] == "0000:a9:00.0"
    )


def test_a_header_that_is_not_the_fields_asked_for_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="not the fields asked for"):
        parse_csv(MAIN.replace("temperature.gpu", "temperature.hbm", 1), MAIN_FIELDS)
    with pytest.raises(UnknownFormat, match="printed no CSV"):
        parse_csv("", MAIN_FIELDS)


def test_a_short_row_marks_that_card_errored() -> None:
    text = MAIN.splitlines()[0] + "\n0, GPU-1, PPU-ZW810E\n"
    (gpu0,) = parse_csv(text, MAIN_FIELDS)
    assert gpu0.state is CardState.ERROR and gpu0.reason == "ppu-smi: a CSV row has 3 cells"


def test_tool_missing_is_unavailable_with_a_hint() -> None:
    with pytest.raises(
        CollectorUnavailable, match=r"ppu-smi was not found on PATH: install the T-Head PPU SDK"
    ):
        ppu({MAIN_CMD: FileNotFoundError(2, "No such file")})[0].read()


def _pci(root: Path, *vendors: str) -> Path:
    for number, vendor in enumerate(vendors):
        device = root / "sys" / "bus" / "pci" / "devices" / f"0000:{0xA8 + number:02x}:00.0"
        device.mkdir(parents=True)
        (device / "vendor").write_text(vendor + "\n")
    return root


def test_nvml_is_dropped_only_when_no_nvidia_device_is_on_the_node(tmp_path: Path) -> None:
    ppu_only = _pci(tmp_path / "a", "0x1ded", "0x1ded")
    mixed = _pci(tmp_path / "b", "0x1ded", "0x10de")
    assert PpuCollector.probe(ppu_only) and not PpuCollector.probe(tmp_path / "empty")
    assert PpuCollector.overlaps(["nvml", "ppu"], ppu_only) == {"nvml"}
    assert PpuCollector.overlaps(["nvml", "ppu"], mixed) == frozenset()
    assert PpuCollector.overlaps(["ppu", "sysfs"], ppu_only) == frozenset()


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("ppu") is PpuCollector
    assert "ppu" not in detect()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_raises_only_unknown_format_on_garbage(text: str) -> None:
    for fields in (MAIN_FIELDS, HEALTH_FIELDS):
        with contextlib.suppress(UnknownFormat):
            parse_csv(text, fields)
        readings = parse_csv(MAIN.splitlines()[0] + "\n" + text, MAIN_FIELDS) if fields is MAIN_FIELDS else []
        for reading in readings:
            assert set(reading.errors) <= set(FIELD_KINDS) and reading.index >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.x[]/NA ,-abcdefGPU", max_size=12), min_size=12, max_size=12))
def test_any_cells_give_none_or_sane_values(cells: list[str]) -> None:
    row = ", ".join(cell.replace(",", "") for cell in cells)
    for reading in parse_csv(MAIN.splitlines()[0] + "\n" + row + "\n", MAIN_FIELDS):
        for value in reading.values.values():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13
