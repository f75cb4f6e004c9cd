"""The Cambricon collector against byte-exact cnmon captures, fed through a fake runner."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.cambricon import CambriconCollector
from cardwatch.collectors.cnmon import parse_table
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
    "mlu370x4-v4.20.11": "cnmon_v4.20.11_mlu370x4.txt",
    "mlu370x4-v5.10.10": "cnmon_v5.10.10_mlu370x4.txt",
    "mlu370x8-v5.10.13": "cnmon_v5.10.13_mlu370x8.txt",
}
V5 = fixture("cambricon", TABLES["mlu370x8-v5.10.13"])
V4 = fixture("cambricon", TABLES["mlu370x4-v4.20.11"])


def cambricon(answers: dict[str, str | Exception]) -> tuple[CambriconCollector, FakeTool]:
    fake = FakeTool(answers)
    return CambriconCollector(node="mlu-01", run=fake, clock=lambda: 1000.0), fake


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
def test_fixtures_are_byte_identical_to_the_reference_captures() -> None:
    names = reference_names("cambricon")
    assert len(names) == 3
    for name in names:
        assert (FIXTURES / "cambricon" / name).read_bytes() == (REFERENCE / name).read_bytes()


@pytest.mark.parametrize("node", sorted(TABLES))
def test_read_matches_golden(node: str) -> None:
    samples = cambricon({"cnmon": fixture("cambricon", TABLES[node])})[0].read()
    assert wire_without_ts(samples) == golden("cambricon", node)
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_misaligned_ecc_cell_of_v5_10_10_still_reads() -> None:
    card1 = parse_table(fixture("cambricon", TABLES["mlu370x4-v5.10.10"]))[1]
    assert card1.state is CardState.OK and card1.values["bus_id"] == "0000:36:00.0"
    assert card1.errors["ecc_corrected_volatile"] == "cnmon Ecc-Error is N/A (inline ECC off)"


def test_an_ecc_total_is_kept_as_vendor_text_not_guessed_into_a_counter() -> None:
    text = V5.replace("| 0%                N/A |", "| 0%                  7 |", 1)
    card0 = cambricon({"cnmon": text})[0].read()[0]
    assert card0.vendor_health_detail == "cnmon Ecc-Error 7"
    assert card0.ecc_corrected_volatile is None and card0.ecc_uncorrected_volatile is None
    assert "(7)" in card0.field_errors["ecc_uncorrected_volatile"]


def test_v4_has_no_bus_id_and_an_uninited_card_is_an_error() -> None:
    text = V4.replace("| On          v4.20.11 |", "| Off         v4.20.11 |", 1)
    card0, card1, _ = parse_table(text)
    assert "bus_id" not in card0.values and card0.values["power_w"] == 30.0
    assert card0.state is CardState.ERROR and card0.reason == "cnmon reports the card Inited 'Off'"
    assert card1.state is CardState.OK


def test_unknown_version_is_an_error_state_not_a_guess() -> None:
    with pytest.raises(
        CollectorUnavailable, match=r"cnmon v6\.2\.29: cardwatch knows the tables of CNMON v4 and v5 only"
    ):
        cambricon({"cnmon": V5.replace("CNMON v5.10.13", "CNMON v6.2.29")})[0].read()


def test_header_that_does_not_match_the_version_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="not the v4 one"):
        parse_table(V5.replace("CNMON v5.10.13", "CNMON v4.20.11"))


def test_no_banner_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="no CNMON banner"):
        parse_table("command not found\n")


def test_garbled_power_and_temperature_are_none_with_reasons() -> None:
    text = V5.replace("|  0%   32C        106 W/ 250 W |", "|  0%   ??C        106 W/ lots |", 1)
    card0 = parse_table(text)[0]
    assert (card0.values["temp_c"], card0.values["power_w"], card0.values["power_limit_w"]) == (
        None,
        None,
        None,
    )
    assert card0.errors["temp_c"] == "unreadable value '??C'"
    assert card0.errors["power_w"] == "unreadable value '106 W/ lots'"


def test_tool_missing_is_unavailable_with_a_hint() -> None:
    with pytest.raises(CollectorUnavailable, match="cnmon was not found on PATH: install the Cambricon"):
        cambricon({"cnmon": FileNotFoundError(2, "No such file")})[0].read()


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("cambricon") is CambriconCollector
    assert "cambricon" not in detect()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_parser_raises_only_unknown_format_on_garbage(text: str) -> None:
    with contextlib.suppress(UnknownFormat):
        parse_table(text)
    with contextlib.suppress(UnknownFormat):
        parse_table(V5[:400] + text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_rows_give_none_or_sane_values(data: st.DataObject) -> None:
    lines = V5.splitlines(keepends=True)
    row = data.draw(st.integers(6, 11))
    junk = data.draw(st.text(alphabet="0123456789 ./%CWMiBN/A|-", max_size=30))
    start = data.draw(st.integers(0, len(lines[row])))
    lines[row] = lines[row][:start] + junk + lines[row][start + len(junk) :]
    for reading in parse_table("".join(lines)):
        assert set(reading.errors) <= set(FIELD_KINDS) and reading.index >= 0
        for value in reading.values.values():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13
