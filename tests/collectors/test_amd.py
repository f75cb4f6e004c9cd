"""The AMD collector against byte-exact amd-smi / rocm-smi captures, fed through a fake runner."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.amd import ROCM_SMI_ARGS, AmdCollector
from cardwatch.collectors.amd_smi import parse_default, parse_rocm_json, parse_throttle
from cardwatch.collectors.tool import UnknownFormat
from cardwatch.model import FIELD_KINDS, CardState, Throttle
from cardwatch.wire import sample_from_wire, sample_to_wire
from tests.collectors.tool_fake import (
    FIXTURES,
    REFERENCE,
    FakeTool,
    fixture,
    golden,
    reference_names,
    wire_without_ts,
)

DEFAULT = fixture("amd", "amd-smi_26.2.1_default_r9700x2.txt")
THROTTLE_DOC = fixture("amd", "amdsmi_changelog_1.txt")
ROCM = fixture("amd", "rocm-smi_6.2.4_rx7800xt.json")
HYGON = fixture("amd", "hygon_dcu_24.04.3_rocm-smi.json")
ROCM_CMD = " ".join(("rocm-smi", *ROCM_SMI_ARGS))
MISSING = FileNotFoundError(2, "No such file or directory")


def amd(answers: dict[str, str | Exception]) -> tuple[AmdCollector, FakeTool]:
    fake = FakeTool(answers)
    return AmdCollector(node="amd-01", run=fake, clock=lambda: 1000.0), fake


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
def test_fixtures_are_byte_identical_to_the_reference_captures() -> None:
    names = reference_names("amd")
    assert len(names) == 5
    for name in names:
        assert (FIXTURES / "amd" / name).read_bytes() == (REFERENCE / name).read_bytes()


def test_amd_smi_view_with_the_documented_throttle_sample_matches_golden() -> None:
    """The R9700 view paired with AMD's documented `metric --throttle` sample (MI300, all NOT ACTIVE)."""
    samples = amd({"amd-smi": DEFAULT, "amd-smi metric --throttle": THROTTLE_DOC})[0].read()
    assert wire_without_ts(samples) == golden("amd", "amd-smi_r9700x2")
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_rocm_smi_json_matches_golden_when_amd_smi_is_missing() -> None:
    collector, fake = amd({"amd-smi": MISSING, ROCM_CMD: ROCM})
    assert wire_without_ts(collector.read()) == golden("amd", "rocm-smi_rx7800xt")
    collector.read()
    assert fake.calls == ["amd-smi", ROCM_CMD, ROCM_CMD]


def test_r9700_values_keep_the_vendor_units_and_odd_fan_cells() -> None:
    gpu0, gpu1 = parse_default(DEFAULT)
    assert (gpu0.values["fan_pct"], gpu1.values["fan_pct"]) == (38.82, 40.0)
    assert (gpu0.values["power_w"], gpu0.values["power_limit_w"]) == (103.0, 300.0)
    assert (gpu1.values["mem_used_mib"], gpu1.values["mem_total_mib"]) == (29777.0, 32624.0)
    assert gpu1.values["bus_id"] == "0000:43:00.0" and gpu1.index == 1


def test_active_violations_map_to_throttle_reasons_and_keep_the_amd_name() -> None:
    text = THROTTLE_DOC.replace("PPT_VIOLATION_STATUS: NOT ACTIVE", "PPT_VIOLATION_STATUS: ACTIVE", 1)
    text = text.replace("HBM_THERMAL_VIOLATION_STATUS: NOT ACTIVE", "HBM_THERMAL_VIOLATION_STATUS: ACTIVE", 1)
    samples = amd({"amd-smi": DEFAULT, "amd-smi metric --throttle": text})[0].read()
    assert samples[0].throttle == {
        Throttle.SW_POWER_CAP,
        "amd-smi:PPT",
        Throttle.HW_THERMAL,
        "amd-smi:HBM_THERMAL",
    }
    assert samples[1].throttle == frozenset()


def test_failed_throttle_query_is_a_field_error_not_an_empty_set() -> None:
    samples = amd({"amd-smi": DEFAULT})[0].read()
    assert all(s.throttle is None for s in samples)
    assert samples[0].field_errors["throttle"].startswith("amd-smi metric --throttle exited with status 2")
    assert samples[0].temp_c == 79.0


def test_unreadable_violation_status_is_reported() -> None:
    text = THROTTLE_DOC.replace("PROCHOT_VIOLATION_STATUS: NOT ACTIVE", "PROCHOT_VIOLATION_STATUS: MAYBE", 1)
    assert parse_throttle(text)[0] == "unreadable violation status PROCHOT: 'MAYBE'"


def test_unknown_amd_smi_version_falls_back_to_rocm_smi_and_remembers_why() -> None:
    newer = DEFAULT.replace("AMD-SMI 26.2.1", "AMD-SMI 27.0.0")
    collector, fake = amd({"amd-smi": newer, ROCM_CMD: ROCM})
    assert collector.read()[0].model == "Navi 32 [Radeon RX 7700 XT / 7800 XT]"
    collector.read()
    assert fake.calls.count("amd-smi") == 1


def test_unknown_version_without_rocm_smi_is_unavailable_with_both_reasons() -> None:
    newer = DEFAULT.replace("AMD-SMI 26.2.1", "AMD-SMI 27.0.0")
    with pytest.raises(
        CollectorUnavailable, match=r"AMD-SMI 26\.x only, and rocm-smi was not found on PATH: install amd-smi"
    ):
        amd({"amd-smi": newer, ROCM_CMD: MISSING})[0].read()


def test_neither_tool_on_path_is_unavailable() -> None:
    with pytest.raises(
        CollectorUnavailable, match=r"^amd-smi was not found on PATH, and rocm-smi was not found"
    ):
        amd({"amd-smi": MISSING, ROCM_CMD: MISSING})[0].read()


def test_changed_header_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match=r"header is not the AMD-SMI 26\.x one"):
        parse_default(DEFAULT.replace("GFX-Uti", "GFX-Use"))


def test_a_garbled_row_marks_that_card_errored_and_keeps_the_other() -> None:
    text = DEFAULT.replace(
        "| 1 %      79 °C   0           103/300 W |", "| 1 %      hot   0           103/300 W |"
    )
    gpu0, gpu1 = amd({"amd-smi": text, "amd-smi metric --throttle": THROTTLE_DOC})[0].read()
    assert gpu0.state is CardState.ERROR and "unrecognised GPU rows" in (gpu0.state_reason or "")
    assert gpu0.temp_c is None and gpu0.bus_id == "0000:03:00.0"
    assert gpu1.state is CardState.OK and gpu1.temp_c == 80.0


def test_na_cells_are_none_not_zero() -> None:
    text = DEFAULT.replace("103/300 W", "      N/A").replace("100 %   38.82", "N/A     N/A  ")
    gpu0 = parse_default(text)[0]
    assert (gpu0.values["power_w"], gpu0.values["power_limit_w"], gpu0.values["util_pct"]) == (
        None,
        None,
        None,
    )
    assert gpu0.values["fan_pct"] is None and gpu0.errors == {}


def test_hygon_rocm_smi_json_is_refused_by_vendor() -> None:
    with pytest.raises(UnknownFormat, match="Chengdu Haiguang"):
        parse_rocm_json(HYGON)


def test_truncated_json_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="rocm-smi printed no JSON"):
        parse_rocm_json(fixture("amd", "amd-smi_26.2.1_metric_json_head40_TRUNCATED.txt"))


def test_timeout_after_a_good_read_marks_known_cards_errored() -> None:
    collector, fake = amd({"amd-smi": DEFAULT, "amd-smi metric --throttle": THROTTLE_DOC})
    collector.read()
    fake.answers["amd-smi"] = subprocess.TimeoutExpired("amd-smi", 5)
    samples = collector.read()
    assert [s.state for s in samples] == [CardState.ERROR, CardState.ERROR]
    assert samples[1].state_reason == "amd-smi timed out after 5 s" and samples[1].bus_id == "0000:43:00.0"


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("amd") is AmdCollector
    assert "amd" not in detect()


def _sysfs(root: Path, devices: dict[str, tuple[str, str]], devfreq: bool = False) -> Path:
    for address, (vendor, klass) in devices.items():
        pci = root / "sys" / "bus" / "pci" / "devices" / address
        pci.mkdir(parents=True)
        (pci / "vendor").write_text(vendor + "\n")
        (pci / "class").write_text(klass + "\n")
    if devfreq:
        (root / "sys" / "class" / "devfreq" / "ffe7040000.npu").mkdir(parents=True)
    return root


def test_overlap_with_sysfs_drops_sysfs_only_when_it_would_read_just_amd_gpus(tmp_path: Path) -> None:
    amd_only = _sysfs(tmp_path / "a", {"0000:03:00.0": ("0x1002", "0x030000")})
    mixed = _sysfs(tmp_path / "b", {"0000:03:00.0": ("0x1002", "0x030000")}, devfreq=True)
    assert AmdCollector.overlaps(["amd", "sysfs"], amd_only) == {"sysfs"}
    assert AmdCollector.overlaps(["amd", "sysfs"], mixed) == {"amd"}
    assert AmdCollector.overlaps(["nvml", "amd"], mixed) == frozenset()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_parsers_never_raise_anything_but_unknown_format_on_garbage(text: str) -> None:
    for parse in (parse_default, parse_rocm_json):
        with contextlib.suppress(UnknownFormat):
            parse(text)
    parse_throttle(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_rows_give_none_or_sane_numbers(data: st.DataObject) -> None:
    lines = DEFAULT.splitlines(keepends=True)
    row = data.draw(st.sampled_from([8, 9, 11, 12]))
    junk = data.draw(st.text(alphabet="0123456789 ./%-NA°CWMB|x", max_size=40))
    start = data.draw(st.integers(0, len(lines[row]) - 1))
    lines[row] = lines[row][:start] + junk + lines[row][start + len(junk) :]
    for reading in parse_default("".join(lines)):
        for name, value in reading.values.items():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13, name
        assert set(reading.errors) <= set(FIELD_KINDS)
        assert reading.index >= 0
