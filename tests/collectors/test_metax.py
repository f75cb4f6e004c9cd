"""The MetaX collector against byte-exact mx-smi captures, fed through a fake runner."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.metax import MetaxCollector
from cardwatch.collectors.mx_smi import parse_count_ecc, parse_table
from cardwatch.collectors.tool import UnknownFormat
from cardwatch.model import FIELD_KINDS, CardState
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

TABLES = {
    "c550x8-2.2.4": "mxsmi_2.2.4_c550x8.txt",
    "c500-2.2.9-excerpt": "mxsmi_2.2.9_c500_table_excerpt.txt",
    "c500-2.3.1": "mxsmi_2.3.1_c500.txt",
}
ECC = fixture("metax", "mxsmi_2.2.9_count-ecc_comment.txt")
C500 = fixture("metax", TABLES["c500-2.3.1"])
C550 = fixture("metax", TABLES["c550x8-2.2.4"])
MOFFETT = "MOFFETT-SMI 2.3.0  Driver Version: 2.3.0\n+-----+\n| SPU  Name |\n"


def metax(answers: dict[str, str | Exception]) -> tuple[MetaxCollector, FakeTool]:
    fake = FakeTool(answers)
    return MetaxCollector(node="mx-01", run=fake, clock=lambda: 1000.0), fake


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
def test_fixtures_are_byte_identical_to_the_reference_captures() -> None:
    names = reference_names("metax")
    assert len(names) == 6
    for name in names:
        assert (FIXTURES / "metax" / name).read_bytes() == (REFERENCE / name).read_bytes()


@pytest.mark.parametrize("node", sorted(TABLES))
def test_table_read_matches_golden(node: str) -> None:
    """Each table with the captured --count-ecc excerpt (GPU#0 at 08:00.0, so it joins none of these)."""
    samples = metax({"mx-smi": fixture("metax", TABLES[node]), "mx-smi --count-ecc": ECC})[0].read()
    assert wire_without_ts(samples) == golden("metax", node)
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_both_layouts_give_the_same_fields() -> None:
    old, new = parse_table(C550)[5], parse_table(C500)[0]
    assert set(old.values) == set(new.values)
    assert (old.values["temp_c"], old.values["power_w"], old.values["power_limit_w"]) == (32.0, 55.0, 450.0)
    assert (new.values["mem_used_mib"], new.values["mem_total_mib"], new.values["bus_id"]) == (
        826.0,
        65536.0,
        "0000:12:00.0",
    )


def test_ecc_joins_by_gpu_number_when_the_bus_agrees() -> None:
    ecc = ECC.replace("0000:08:00.0", "0000:12:00.0")
    (gpu,) = metax({"mx-smi": C500, "mx-smi --count-ecc": ecc})[0].read()
    assert (gpu.ecc_corrected_volatile, gpu.retired_pages_dbe) == (0, 0)
    assert (
        gpu.ecc_uncorrected_volatile is None
        and "SRAM Uncorrectable" in gpu.field_errors["ecc_uncorrected_volatile"]
    )


def test_unavailable_gpu_state_is_an_error_with_the_vendor_text() -> None:
    text = C550.replace("| Available            |", "| Not Available        |", 1)
    gpu0 = metax({"mx-smi": text})[0].read()[0]
    assert gpu0.state is CardState.ERROR and gpu0.state_reason == "mx-smi reports the GPU Not Available"
    assert gpu0.vendor_health == "Not Available" and gpu0.temp_c == 29.0


def test_moffett_mx_smi_is_refused() -> None:
    with pytest.raises(CollectorUnavailable, match="MOFFETT's"):
        metax({"mx-smi": MOFFETT})[0].read()


def test_older_and_newer_versions_are_unknown_formats() -> None:
    for version in ("2.1.6", "3.0.0"):
        with pytest.raises(UnknownFormat, match=f"mx-smi {version}: cardwatch knows"):
            parse_table(C500.replace("MX-SMI 2.3.1", f"MX-SMI {version}"))


def test_a_header_that_does_not_match_its_version_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match=r"mx-smi 2\.2\.4: the table header"):
        parse_table(
            C550.replace("MX-SMI 2.2.4", "MX-SMI 2.2.4").replace(
                "| GPU-Util             |\n| Temp", "| GPU-Load             |\n| Temp", 1
            )
        )
    with pytest.raises(UnknownFormat, match=r"mx-smi 2\.2\.9: the table header"):
        parse_table(C550.replace("MX-SMI 2.2.4", "MX-SMI 2.2.9"))


def test_garbled_cells_are_none_with_reasons() -> None:
    text = C500.replace("37W / 350W", "37W / lots", 1).replace("| 32C ", "| ??C ", 1)
    (gpu,) = parse_table(text)
    assert (gpu.values["power_w"], gpu.values["power_limit_w"], gpu.values["temp_c"]) == (37.0, None, None)
    assert gpu.errors == {"power_limit_w": "unreadable value 'lots'", "temp_c": "unreadable value '??C'"}


def test_cut_short_rows_are_an_errored_card() -> None:
    text = C500.split("| 37W / 350W")[0]
    (gpu,) = parse_table(text)
    assert gpu.state is CardState.ERROR and "cut short" in (gpu.reason or "")


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("metax") is MetaxCollector
    assert "metax" not in detect()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_parsers_raise_only_unknown_format_on_garbage(text: str) -> None:
    for parse in (parse_table, parse_count_ecc):
        with contextlib.suppress(UnknownFormat):
            parse(text)
        with contextlib.suppress(UnknownFormat):
            parse("=== MetaX System Management Interface Log ===\n| MX-SMI 2.3.1 |\n" + text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_rows_give_none_or_sane_values(data: st.DataObject) -> None:
    lines = C550.splitlines(keepends=True)
    row = data.draw(st.integers(13, 37))
    junk = data.draw(st.text(alphabet="0123456789 ./:CWMiB|AvN-x", max_size=30))
    start = data.draw(st.integers(0, len(lines[row])))
    lines[row] = lines[row][:start] + junk + lines[row][start + len(junk) :]
    for reading in parse_table("".join(lines)):
        assert set(reading.errors) <= set(FIELD_KINDS) and reading.index >= 0
        for value in reading.values.values():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13
