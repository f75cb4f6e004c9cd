"""The Moore Threads collector against byte-exact mthreads-gmi captures, fed through a fake runner."""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, detect, load
from cardwatch.collectors.mthreads import MthreadsCollector
from cardwatch.collectors.mthreads_gmi import parse_query_json, parse_table
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
    "s80-x4link": "mthreads-gmi_1.14.0_s80_x4link.txt",
    "s80": "mthreads-gmi_2.0.0_s80.txt",
    "s5000x8": "mthreads-gmi_2.4.1_s5000x8.txt",
}
JSON_EXCERPT = fixture("mthreads", "mthreads-gmi_query_json_s5000_excerpt.json")
S5000 = fixture("mthreads", TABLES["s5000x8"])


def mthreads(answers: dict[str, str | Exception]) -> tuple[MthreadsCollector, FakeTool]:
    fake = FakeTool(answers)
    return MthreadsCollector(node="mt-01", run=fake, clock=lambda: 1000.0), fake


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
def test_fixtures_are_byte_identical_to_the_reference_captures() -> None:
    names = reference_names("mthreads")
    assert len(names) == 4
    for name in names:
        assert (FIXTURES / "mthreads" / name).read_bytes() == (REFERENCE / name).read_bytes()


@pytest.mark.parametrize("node", sorted(TABLES))
def test_table_read_matches_golden(node: str) -> None:
    """The table alone: these hosts' JSON was not captured, so power says why it is missing."""
    samples = mthreads({"mthreads-gmi": fixture("mthreads", TABLES[node])})[0].read()
    assert wire_without_ts(samples) == golden("mthreads", node)
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_json_power_joins_the_table_by_index_when_the_bus_ids_agree() -> None:
    """The JSON excerpt is of another S5000 host (GPU 0 at 2a:00.0); moved to the table's bus it merges."""
    moved = JSON_EXCERPT.replace("00000000:2a:00.0", "00000000:18:00.0")
    gpu0, gpu1 = mthreads({"mthreads-gmi": S5000, "mthreads-gmi --query --json": moved})[0].read()[:2]
    assert (gpu0.power_w, gpu0.power_limit_w, gpu0.serial) == (96.66, 950.0, "MY10YL225BF06077")
    assert gpu0.uuid == "399282a8-ba01-1475-893c-2eeca9e302f5" and gpu0.field_errors == {}
    assert (gpu1.power_w, gpu1.power_limit_w) == (97.09, None)
    assert gpu1.field_errors == {
        "power_limit_w": "mthreads-gmi --query --json printed no 'Current Power Limit'"
    }


def test_json_of_another_card_at_the_same_index_is_not_merged() -> None:
    gpu0 = mthreads({"mthreads-gmi": S5000, "mthreads-gmi --query --json": JSON_EXCERPT})[0].read()[0]
    assert gpu0.power_w is None and gpu0.serial is None
    assert gpu0.field_errors["power_w"] == (
        "mthreads-gmi --query --json GPU 0 is at 0000:2a:00.0, not 0000:18:00.0"
    )


def test_downtrained_link_keeps_current_and_max_lanes() -> None:
    (s80,) = parse_table(fixture("mthreads", TABLES["s80-x4link"]))
    assert (s80.values["pcie_width"], s80.values["pcie_width_max"]) == (4, 16)
    assert (s80.values["mem_used_mib"], s80.values["mem_total_mib"], s80.values["temp_c"]) == (
        2.0,
        16384.0,
        49.0,
    )


def test_unknown_major_version_is_an_error_state_not_a_guess() -> None:
    newer = S5000.replace("mthreads-gmi:2.4.1", "mthreads-gmi:3.0.0")
    with pytest.raises(
        CollectorUnavailable, match=r"mthreads-gmi 3\.0\.0: cardwatch knows the tables of 1\.x and 2\.x only"
    ):
        mthreads({"mthreads-gmi": newer})[0].read()


def test_changed_header_is_an_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="header"):
        parse_table(S5000.replace("Pcie Lane Width", "Link"))


def test_tool_missing_is_unavailable_with_a_hint() -> None:
    with pytest.raises(
        CollectorUnavailable, match="mthreads-gmi was not found on PATH: install the Moore Threads"
    ):
        mthreads({"mthreads-gmi": FileNotFoundError(2, "No such file")})[0].read()


def test_failure_after_a_good_read_marks_known_cards_errored() -> None:
    collector, fake = mthreads({"mthreads-gmi": S5000})
    collector.read()
    fake.answers["mthreads-gmi"] = subprocess.CalledProcessError(
        255, ["mthreads-gmi"], "", "Failed to initialize MTML\n"
    )
    samples = collector.read()
    assert len(samples) == 8 and {s.state for s in samples} == {CardState.ERROR}
    assert samples[3].state_reason == "mthreads-gmi exited with status 255: Failed to initialize MTML"
    assert samples[3].bus_id == "0000:5c:00.0" and samples[3].temp_c is None


def test_garbled_cells_are_none_with_reasons() -> None:
    text = S5000.replace("|48C   YES", "|hotC  YES", 1).replace("16x(16x)", "?x(16x)", 1)
    gpu0 = parse_table(text)[0]
    assert gpu0.values["temp_c"] is None and gpu0.errors["temp_c"] == "unreadable value 'hotC'"
    assert gpu0.values["pcie_width"] is None and "pcie_width" in gpu0.errors


def test_cut_short_block_is_an_errored_card() -> None:
    text = S5000.split("     Physical      P0     |16x(16x)            |48C   YES\n")[0]
    (gpu0,) = parse_table(text)
    assert gpu0.state is CardState.ERROR and gpu0.values["bus_id"] == "0000:18:00.0"


def test_json_garbage_is_an_unknown_format() -> None:
    for text in ("", "[]", '{"GPU": 3}'):
        with pytest.raises(UnknownFormat):
            parse_query_json(text)


def test_registered_and_not_detected_on_this_machine() -> None:
    assert load("mthreads") is MthreadsCollector
    assert "mthreads" not in detect()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_parsers_raise_only_unknown_format_on_garbage(text: str) -> None:
    for parse in (parse_table, parse_query_json):
        with contextlib.suppress(UnknownFormat):
            parse(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_lines_give_none_or_sane_values(data: st.DataObject) -> None:
    lines = S5000.splitlines(keepends=True)
    row = data.draw(st.integers(8, 32))
    junk = data.draw(st.text(alphabet="0123456789 .:%()xMiBCN/A|-", max_size=30))
    start = data.draw(st.integers(0, len(lines[row])))
    lines[row] = lines[row][:start] + junk + lines[row][start + len(junk) :]
    for reading in parse_table("".join(lines)):
        assert set(reading.errors) <= set(FIELD_KINDS) and reading.index >= 0
        for value in reading.values.values():
            if isinstance(value, float):
                assert value == value and abs(value) < 1e13
