"""The pure npu-smi parsers: every capture layout, absent and garbled values, and property tests."""

from __future__ import annotations

import re
from dataclasses import astuple, fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import npu_smi
from cardwatch.collectors.npu_smi import (
    ChipCommon,
    EccCounts,
    HealthInfo,
    parse_blocks,
    parse_common,
    parse_count,
    parse_decimal,
    parse_ecc,
    parse_health,
    parse_mapping,
    parse_table,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ascend"
TABLES = {
    "910b4": "npu-smi_info.910B4.23.0.6.vllm-ascend-1999.txt",
    "a3": "npu-smi_info.910C-A3.25.3.rc1.vllm-ascend.txt",
    "310p-duo": "npu-smi_info.310P3-duo.25.5.1.txt",
    "310p-single": "npu-smi_info.310P3-single.25.3.rc1.txt",
    "910a-warning": "npu-smi_info.910A-with-Warning.24.1.RC2.gpustack.txt",
    "910a-training": "gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1.txt",
    "310": "gpustack.ai-server_atlas-800-inference-server_model-3000_version-1.0.11-1.0.15.txt",
}
ALL_CAPTURES = sorted(p.name for p in FIXTURES.glob("*.txt"))
FIELDS = ("npu_id", "chip_id", "model", "health", "bus_id", "power_w", "temp_c", "util_pct")
MEM = ("mem_used_mib", "mem_total_mib")


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def row(chip: npu_smi.TableChip, names: tuple[str, ...] = FIELDS + MEM) -> tuple[object, ...]:
    return tuple(getattr(chip, name) for name in names)


@pytest.mark.parametrize(
    ("table", "count", "first", "last"),
    [
        ("910b4", 4, (1, 0, "910B4", "OK", "0000:01:00.0", 93.2, 41.0, 0.0, 2820.0, 32768.0),
         (4, 0, "910B4", "OK", "0000:81:00.0", 96.3, 40.0, 0.0, 2822.0, 32768.0)),
        ("a3", 6, (0, 0, "Ascend910", "OK", "0000:9D:00.0", 166.6, 37.0, 0.0, 3150.0, 65536.0),
         (4, 1, "Ascend910", "OK", "0000:8F:00.0", None, 38.0, 0.0, 58039.0, 65536.0)),
        ("310p-duo", 4, (1, 0, "310P3", "OK", "0000:01:00.0", None, 49.0, 0.0, 1448.0, 44278.0),
         (2, 1, "310P3", "OK", "0000:02:00.0", None, 46.0, 0.0, 1572.0, 43693.0)),
        ("310p-single", 1, (6, 0, "310P3", "OK", "0000:84:00.0", None, 50.0, 0.0, 1839.0, 21525.0),
         (6, 0, "310P3", "OK", "0000:84:00.0", None, 50.0, 0.0, 1839.0, 21525.0)),
        ("910a-warning", 2, (0, 0, "xxx", "OK", "0000:C1:00.0", 70.5, 42.0, 0.0, 0.0, 32768.0),
         (3, 0, "xxx", "Warning", "0000:01:00.0", 206.9, 39.0, 0.0, 0.0, 32768.0)),
        ("910a-training", 8, (0, 0, "910A", "OK", "0000:61:00.0", 67.2, 43.0, 0.0, 0.0, 32768.0),
         (7, 0, "910A", "OK", "0000:3D:00.0", 191.4, 40.0, 0.0, 0.0, 32768.0)),
        ("310", 4, (6, 0, "310", "OK", "0000:89:00.0", 12.8, 73.0, 0.0, 2703.0, 8192.0),
         (6, 3, "310", "OK", "0000:8C:00.0", 12.8, 65.0, 0.0, 2867.0, 8192.0)),
    ],
)  # fmt: skip
def test_table_captures(table: str, count: int, first: tuple[object, ...], last: tuple[object, ...]) -> None:
    parsed = parse_table(read(TABLES[table]))
    assert parsed.error is None and len(parsed.chips) == count
    assert (row(parsed.chips[0]), row(parsed.chips[-1])) == (first, last)
    assert all(chip.errors == {} and chip.problem is None for chip in parsed.chips)


def test_separators_do_not_matter() -> None:
    text = read(TABLES["310p-duo"])
    bare = "\n".join(line for line in text.splitlines() if not line.startswith("+"))
    assert parse_table(bare) == parse_table(text)


def test_wide_26_0_layout() -> None:
    """The 116-column layout of npu-smi 26.0 (rows from vendors.md B.3)."""
    text = (
        "| NPU   Name                | Health        | Power(W)             Temp(C)                 Hugepages-Usage(page)   |\n"
        "| Chip                      | Bus-Id        | AICore(%)            Memory-Usage(MB)        HBM-Usage(MB)           |\n"
        "| 0     910B4               | OK            | 82.6                 32                      0    / 0                |\n"
        "| 0                         | 0000:C1:00.0  | 0                    0    / 0                2871 / 32768            |\n"
        "| NPU     Chip              | Process id    | Process name       | Process memory(MB)    | Process id in container |\n"
        "| 0       0                 | 1234          | python             | 2800                  | 77                      |\n"
    )
    (chip,) = parse_table(text).chips
    assert row(chip) == (0, 0, "910B4", "OK", "0000:C1:00.0", 82.6, 32.0, 0.0, 2871.0, 32768.0)


def test_950_layout_without_chip_column() -> None:
    """Ascend 950 header from the print source; the data rows are shaped after it (synthetic values)."""
    text = (
        "| NPU ID | Name             | Health        | Power(W)    Temp(C)           Hugepages-Usage(page) |\n"
        "|        |                  | Bus-Id        | NPU Util(%) Memory-Usage(MB)  HBM-Usage(MB)         |\n"
        "| 3      | Ascend950        | Critical      | 301.5       71                0    / 0              |\n"
        "|        |                  | 0000:41:00.0  | 97          0    / 0          90112/ 131072         |\n"
    )
    (chip,) = parse_table(text).chips
    assert row(chip) == (3, 0, "Ascend950", "Critical", "0000:41:00.0", 301.5, 71.0, 97.0, 90112.0, 131072.0)


def test_no_table_is_an_error_not_an_empty_node() -> None:
    assert (
        parse_table("npu-smi: dcmi init failed, ret = -8005\n").error
        == "no npu-smi device table in the output"
    )
    assert parse_table("").error is not None
    header_only = "".join(read(TABLES["910b4"]).splitlines(keepends=True)[:6])
    assert parse_table(header_only) == npu_smi.NpuTable()


def test_truncated_row_keeps_its_first_line_and_says_so() -> None:
    text = read(TABLES["a3"])
    cut = text[: text.index("| 1     1                   | 0000:9F:00.0")]
    chips = parse_table(cut).chips
    assert len(chips) == 2
    assert row(chips[1], ("npu_id", "chip_id", "temp_c", "bus_id", "mem_used_mib")) == (
        0,
        1,
        36.0,
        None,
        None,
    )
    assert chips[1].problem == "the table row is truncated"


def test_garbled_cells_become_errors() -> None:
    text = (
        read(TABLES["910b4"])
        .replace("93.2        41", "nan         4l", 1)
        .replace("2820 / 32768", "28x0 / -1", 1)
    )
    chip = parse_table(text).chips[0]
    assert (chip.power_w, chip.temp_c, chip.mem_used_mib, chip.mem_total_mib) == (None, None, None, None)
    assert chip.errors == {
        "power_w": "unreadable value 'nan'",
        "temp_c": "unreadable value '4l'",
        "mem_used_mib": "unreadable value '28x0'",
        "mem_total_mib": "negative value '-1'",
    }


def test_cells_cut_short_say_what_is_missing() -> None:
    header = "".join(read(TABLES["310p-duo"]).splitlines(keepends=True)[:6])
    text = header + "| 1       310P3     | OK       | NA     |\n| 0       0     | 0000:01:00.0    |     |\n"
    (chip,) = parse_table(text).chips
    assert (chip.power_w, chip.temp_c, chip.util_pct, chip.mem_used_mib) == (None, None, None, None)
    assert chip.errors == {
        "temp_c": "missing from the table row",
        "util_pct": "missing from the table row",
        "mem_used_mib": "no memory usage in the table",
        "mem_total_mib": "no memory usage in the table",
    }


@pytest.mark.parametrize("raw", ["NA", "-", "Failed", "", "  NA  "])
def test_absent_markers_are_none_without_error(raw: str) -> None:
    errors: dict[str, str] = {}
    assert parse_decimal(raw, "temp_c", errors) is None and parse_count(raw, "x", errors) is None
    assert errors == {}


@pytest.mark.parametrize("raw", ["nan", "inf", "1e5", "1_000", "+5", "٤٢", "0x10", "12,5", "-3", "1.2.3"])
def test_anything_but_a_plain_decimal_is_refused(raw: str) -> None:
    errors: dict[str, str] = {}
    assert parse_decimal(raw, "power_w", errors) is None
    assert set(errors) == {"power_w"}


def test_counts_refuse_fractions_and_values_past_64_bits() -> None:
    errors: dict[str, str] = {}
    assert parse_count("9223372036854775807", "a", errors) == 2**63 - 1
    assert parse_count("9223372036854775808", "b", errors) is None
    assert parse_count("1.5", "c", errors) is None
    assert set(errors) == {"b", "c"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpustack.ai-server_atlas-800-inference-server_model-3000_version-1.0.11-1.0.15_mapping.txt",
         {(6, 0): 0, (6, 1): 1, (6, 2): 2, (6, 3): 3}),
        ("gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1_mapping.txt",
         {(n, 0): n for n in range(8)}),
    ],
)  # fmt: skip
def test_mapping_captures(name: str, expected: dict[tuple[int, int], int]) -> None:
    assert parse_mapping(read(name)) == expected


def test_mapping_from_the_real_tab_capture() -> None:
    text = read("real_capture.mind-cluster.faultdiag.npu_info_before.910A.txt")
    assert parse_mapping(text) == {(n, 0): n for n in range(8)}


def test_mapping_finds_columns_by_name() -> None:
    a3 = (
        "\tNPU ID    Chip ID    Chip Logic ID    Chip Phy-ID    Chip Name\n"
        "\t0    0    0    0    Ascend910\n\t0    1    1    1    Ascend910\n\t0    2    -    -    Mcu\n"
        "\t1    0    2    2    Ascend910\n"
    )
    assert parse_mapping(a3) == {(0, 0): 0, (0, 1): 1, (1, 0): 2}
    ascend_950 = "NPU ID    Slot ID    Chip ID    Chip Phy-ID    Chip Name\n0    1    0    4    Ascend950\n"
    assert parse_mapping(ascend_950) == {}


def test_common_910b() -> None:
    info = parse_common(read("npu-smi_info_-t_common_-i_0.910B.normalized.txt"))
    assert info.chips == {
        0: ChipCommon(sm_clock_mhz=1000.0, sm_clock_max_mhz=1000.0, temp_c=46.0, power_w=69.0)
    }
    assert info.mcu_power_w == 45.2


def test_common_310p_duo_has_two_chips_and_card_power_on_the_mcu() -> None:
    info = parse_common(read("npu-smi_info_-t_common_-i_1.310P3.synthetic.txt"))
    assert {chip: (c.sm_clock_mhz, c.sm_clock_max_mhz, c.power_w) for chip, c in info.chips.items()} == {
        0: (960.0, 1080.0, None),
        1: (1080.0, 1080.0, None),
    }
    assert info.mcu_power_w == 28.6


def test_trailer_blocks_of_temp_and_power() -> None:
    temp = parse_blocks(read("npu-smi_info_-t_temp_-i_0.910B.normalized.txt"), chip_id_trails=True)
    assert [(b.chip_id, b.is_mcu) for b in temp] == [(0, False), (None, True)]
    assert temp[0].values["NPU Temperature (C)"] == "39" and temp[1].values["LM75B_TE (C)"] == "36"
    power = parse_blocks(read("npu-smi_info_-t_power_-i_0_-c_0.910B.normalized.txt"), chip_id_trails=True)
    assert [(b.chip_id, b.values) for b in power] == [(None, {"NPU Real-time Power(W)": "203.3"})]
    card_power = parse_blocks(read("npu-smi_info_-t_power_-i_0.910B.normalized.txt"), chip_id_trails=True)
    assert [(b.chip_id, b.values["NPU Real-time Power(W)"]) for b in card_power] == [(0, "103.5")]
    chip_temp = parse_blocks(
        read("npu-smi_info_-t_temp_-i_0_-c_0.server.normalized.txt"), chip_id_trails=True
    )
    assert [(b.chip_id, b.is_mcu, b.values) for b in chip_temp] == [
        (None, False, {"NPU Temperature (C)": "62"})
    ]


def _section(name: str, marker: str) -> str:
    lines = read(name).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("/") and marker in line) + 1
    end = next((i for i in range(start, len(lines)) if lines[i][:1] not in ("\t", "\n", "")), len(lines))
    return "".join(lines[start:end])


def test_health_ok_and_alarm_from_the_real_capture() -> None:
    ok = parse_health(_section("real_capture.mind-cluster.faultdiag.npu_info_before.910A.txt", "-t health"))
    assert ok == HealthInfo(status="OK")
    alarm = parse_health(_section("real_capture.mind-cluster.faultdiag.npu_info_after.910A.txt", "-t health"))
    assert alarm.status == "Alarm" and alarm.errors == {}
    assert alarm.error_codes == ("A4025021", "8C03A000", "8C084E00")
    assert alarm.detail == (
        "ascend_monitor adda heart beat lost error; node type=process-manager, sensor type=General Software, "
        "event state=The process start failed or exit abnormally; node type=adda, sensor type=Heartbeat "
        "Sensor, event state=Heartbeat Lost."
    )


@pytest.mark.parametrize(
    ("name", "status", "codes"),
    [
        ("npu-smi_info_-t_health_-i_0_-c_0.Warning.synthetic.txt", "Warning", ("80E18005",)),
        ("npu-smi_info_-t_health_-i_0_-c_0.Critical.synthetic.txt", "Critical", ("80CB8009", "80E01801")),
    ],
)
def test_health_synthetic_levels(name: str, status: str, codes: tuple[str, ...]) -> None:
    info = parse_health(read(name))
    assert (info.status, info.error_codes, info.errors) == (status, codes, {})


def test_health_card_level_na_and_garbage() -> None:
    card = "\tNPU ID                         : 0\n\tChip Count                     : 1\n\n"
    card += "\tChip ID                        : 0\n\tHealth                         : Warning\n\n"
    card += "\tHealth                         : NA\n\tChip Name                      : MCU\n"
    assert parse_health(card).status == "Warning"
    bad = parse_health("\tHealth Status                  : Fine\n\tError Code                     : ZZ 12\n")
    assert (bad.status, bad.error_codes) == (None, ())
    assert set(bad.errors) == {"vendor_health", "error_codes"}


def test_ecc_910a_prefers_hbm() -> None:
    assert parse_ecc(read("npu-smi_info_-t_ecc_-i_0.910A.normalized.txt")) == {0: EccCounts(0, 0, 0, 0, 0, 0)}


def test_ecc_310p_uses_ddr_per_chip() -> None:
    ecc = parse_ecc(read("npu-smi_info_-t_ecc_-i_1.310P3.synthetic.txt"))
    assert ecc == {0: EccCounts(3, 0, 17, 1, 2, 1), 1: EccCounts(0, 0, 0, 0, 0, 0)}


def test_ecc_310_unprefixed_keys_and_empty_blocks() -> None:
    text = "\tSingle-bit Error Count                   : 4\n\tDouble-bit Error Count                   : 0\n"
    text += "\tChip ID                                  : 0\n\tChip ID                                  : 1\n"
    ecc = parse_ecc(text)
    assert (ecc[0].ecc_corrected_volatile, ecc[0].ecc_uncorrected_volatile, ecc[0].errors) == (4, 0, {})
    assert ecc[1].ecc_corrected_volatile is None
    assert ecc[1].errors["ecc_corrected_volatile"] == "npu-smi printed no ECC counters for this chip"


def test_error_text_is_recognised() -> None:
    capture = read("real_capture.mind-cluster.faultdiag.npu_info_after.910A.txt")
    assert npu_smi.error_message(capture) == "Invalid card id."
    assert npu_smi.error_message("Error parameter of -c\n") == "Error parameter of -c"
    assert all(npu_smi.error_message(read(name)) is None for name in TABLES.values())


# Property tests: nothing raises, and every number a parser returns was printed in its input.

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def numbers_in(text: str) -> set[float]:
    return {float(token) for token in _NUMBER.findall(text)}


def numbers_out(text: str) -> set[float]:
    """Every measured number (not ids) that any parser produced from `text`."""
    found: list[object] = []
    for chip in parse_table(text).chips:
        found += [getattr(chip, f.name) for f in fields(chip) if f.name not in ("npu_id", "chip_id")]
    common = parse_common(text)
    found += [common.mcu_power_w, *(v for c in common.chips.values() for v in astuple(c))]
    found += [v for counts in parse_ecc(text).values() for v in astuple(counts)]
    found += list(parse_mapping(text).values())
    parse_health(text)
    npu_smi.error_message(text)
    return {float(v) for v in found if isinstance(v, int | float) and not isinstance(v, bool)}


NASTY = ["99999999999999999999999999", "-7", "nan", "NaN", "inf", "-inf", "1e999", "0x1F", "", "NA", "½", "٣"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ALL_CAPTURES), st.data())
def test_truncated_captures_never_raise_nor_invent_numbers(name: str, data: st.DataObject) -> None:
    text = read(name)
    cut = text[: data.draw(st.integers(0, len(text)))]
    assert numbers_out(cut) <= numbers_in(cut)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ALL_CAPTURES), st.data())
def test_mutated_numbers_never_raise_nor_invent_numbers(name: str, data: st.DataObject) -> None:
    text = read(name)
    spots = list(_NUMBER.finditer(text))
    chosen = data.draw(
        st.lists(st.sampled_from(spots), min_size=1, max_size=5, unique_by=lambda m: m.start())
    )
    for spot in sorted(chosen, key=lambda m: m.start(), reverse=True):
        nasty = data.draw(st.sampled_from(NASTY) | st.text(max_size=8))
        text = text[: spot.start()] + nasty + text[spot.end() :]
    assert numbers_out(text) <= numbers_in(text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(blob: bytes) -> None:
    text = blob.decode("utf-8", errors="replace")
    assert numbers_out(text) <= numbers_in(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("|\t :/-.0123456789ChipIDNAOK\n"), max_size=800))
def test_table_and_kv_shaped_noise_never_raise(text: str) -> None:
    assert numbers_out(text) <= numbers_in(text)
