"""The Enflame collector against byte-exact efsmi captures, fed through a fake runner."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.efsmi import parse_table
from cardwatch.collectors.enflame import EnflameCollector
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


def without_docstring_markers(text: str) -> str:
    """The gcustat docstring's raw table: its author added a 15-space indent and ``line N ==>`` markers."""
    return re.sub(r"^(    line \d ==> |               )", "", text, flags=re.MULTILINE)


TABLES = {
    "l300-1.7.2.14": fixture("enflame", "efsmi_1.7.2.14_l300.txt"),
    "s60g-sriov-1.6.3.12": fixture("enflame", "efsmi_1.6.3.12_s60g_sriov.txt"),
    "s60-v1.2.0.301": fixture("enflame", "efsmi_v1.2.0.301_s60.txt"),
    "t20-v1.20.0-docstring": without_docstring_markers(
        fixture("enflame", "efsmi_V1.20.0_t20_gcustat_docstring.txt")
    ),
}
L300 = TABLES["l300-1.7.2.14"]
S60 = TABLES["s60-v1.2.0.301"]


def enflame(answers: dict[str, str | Exception]) -> tuple[EnflameCollector, FakeTool]:
    fake = FakeTool(answers)
    return EnflameCollector(node="gcu-01", run=fake, clock=lambda: 1000.0), fake


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
def test_fixtures_are_byte_identical_to_the_reference_captures() -> None:
    names = reference_names("enflame")
    assert len(names) == 7
    for name in names:
        assert (FIXTURES / "enflame" / name).read_bytes() == (REFERENCE / name).read_bytes()


@pytest.mark.parametrize("node", sorted(TABLES))
def test_read_matches_golden(node: str) -> None:
    samples = enflame({"efsmi": TABLES[node]})[0].read()
    assert wire_without_ts(samples) == golden("enflame", node)
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_every_temperature_and_power_format_reads_the_same_way() -> None:
    """``35℃``, ``39 C`` and ``30C``; ``68W / 300W``, ``105W  300W`` and ``48.0W  300W``."""
    readings = {node: parse_table(text)[0].values for node, text in TABLES.items()}
    assert [readings[n]["temp_c"] for n in sorted(TABLES)] == [35.0, 39.0, 34.0, 30.0]
    assert [readings[n]["power_w"] for n in sorted(TABLES)] == [68.0, 105.0, None, 48.0]
    assert readings["t20-v1.20.0-docstring"]["mem_total_mib"] == 32 * 1024.0
    assert readings["t20-v1.20.0-docstring"]["bus_id"] == "0000:3d:00.0"


def test_sriov_power_is_none_without_an_error() -> None:
    device = parse_table(TABLES["s60g-sriov-1.6.3.12"])[1]
    assert (device.values["power_w"], device.values["power_limit_w"], device.errors) == (None, None, {})


def test_query_views_are_not_the_table() -> None:
    for name in ("efsmi_-q_s60_zstack_comment.txt", "efsmi_dmon_s60_testfixture.txt"):
        with pytest.raises(UnknownFormat, match="banner line cardwatch does not know"):
            parse_table(fixture("enflame", name))


def test_unknown_version_is_an_error_state_not_a_guess() -> None:
    with pytest.raises(CollectorUnavailable, match=r"efsmi 1\.8 \(colon banner\): cardwatch knows"):
        enflame({"efsmi": L300.replace("EFSMI: 1.7.2.14", "EFSMI: 1.8.0.1 ")})[0].read()


def test_a_header_that_does_not_match_its_version_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match=r"efsmi 1\.7: the table header"):
        parse_table(L300.replace("| TEMP   Lpm ", "| TEMP   Dpm "))


def test_other_tools_output_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="no Enflame efsmi banner"):
        parse_table("Segmentation fault\n")


def test_garbled_rows_mark_that_device_errored() -> None:
    text = S60.replace("| 39 C   Sleep    105W  300W |", "| hot    Sleep    105W  300W |")
    first, second = parse_table(text)
    assert first.state is CardState.ERROR and "unrecognised device rows" in (first.reason or "")
    assert first.values["bus_id"] == "0000:01:00.0"
    assert second.state is CardState.OK and second.values["temp_c"] == 46.0


def test_garbled_power_is_none_with_a_reason() -> None:
    text = L300.replace("68W / 300W ", "68W / lotsW")
    device = parse_table(text)[0]
    assert device.values["power_w"] is None and device.errors["power_w"] == "unreadable value '68W / lotsW'"


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("enflame") is EnflameCollector
    assert "enflame" not in detect()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_parser_raises_only_unknown_format_on_garbage(text: str) -> None:
    with contextlib.suppress(UnknownFormat):
        parse_table(text)
    with contextlib.suppress(UnknownFormat):
        parse_table(L300[:700] + text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_rows_give_none_or_sane_values(data: st.DataObject) -> None:
    lines = S60.splitlines(keepends=True)
    row = data.draw(st.integers(12, 18))
    junk = data.draw(st.text(alphabet="0123456789 ./%CW℃MiBGN/A|-", max_size=30))
    start = data.draw(st.integers(0, len(lines[row])))
    lines[row] = lines[row][:start] + junk + lines[row][start + len(junk) :]
    for reading in parse_table("".join(lines)):
        assert set(reading.errors) <= set(FIELD_KINDS) and reading.index >= 0
        for value in reading.values.values():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13
