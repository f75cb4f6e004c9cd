"""The Ascend collector against byte-exact npu-smi captures, a fake runner and a real fake `npu-smi`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, load
from cardwatch.collectors.ascend import ECC_NOT_YET, NOT_FOUND, AscendCollector
from cardwatch.model import CardSample, CardState
from cardwatch.wire import sample_from_wire, sample_to_wire

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ascend"
GOLDEN = FIXTURES / "golden"
REFERENCE = Path("/work/shared/reference/captures/ascend")
INVALID_ID = "Invalid card id.\nError parameter of -i\nUsage: npu-smi info <watch|proc|-h|-m|-l|-t type> [Options...]\n"

DETAILS_910 = {
    "-t common": "npu-smi_info_-t_common_-i_0.910B.normalized.txt",
    "-t ecc": "npu-smi_info_-t_ecc_-i_0.910A.normalized.txt",
    "-t health": "npu-smi_info_-t_health_-i_0_-c_0.Warning.synthetic.txt",
}
DETAILS_310P = {
    "-t common": "npu-smi_info_-t_common_-i_1.310P3.synthetic.txt",
    "-t ecc": "npu-smi_info_-t_ecc_-i_1.310P3.synthetic.txt",
}
NODES: dict[str, dict[str, str]] = {
    "910b4": {"table": "npu-smi_info.910B4.23.0.6.vllm-ascend-1999.txt", **DETAILS_910},
    "910c-a3": {"table": "npu-smi_info.910C-A3.25.3.rc1.vllm-ascend.txt", **DETAILS_910},
    "910a-warning": {"table": "npu-smi_info.910A-with-Warning.24.1.RC2.gpustack.txt", **DETAILS_910},
    "910a-training": {
        "table": "gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1.txt",
        "-m": "gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1_mapping.txt",
        **DETAILS_910,
    },
    "310p3-duo": {"table": "npu-smi_info.310P3-duo.25.5.1.txt", **DETAILS_310P},
    "310p3-single": {"table": "npu-smi_info.310P3-single.25.3.rc1.txt", **DETAILS_310P},
    "310-inference": {
        "table": "gpustack.ai-server_atlas-800-inference-server_model-3000_version-1.0.11-1.0.15.txt",
        "-m": "gpustack.ai-server_atlas-800-inference-server_model-3000_version-1.0.11-1.0.15_mapping.txt",
    },
}
"""Per node: npu-smi query -> fixture it prints; a query not listed fails like npu-smi does."""


def _kind(argv: Sequence[str]) -> str:
    assert list(argv[:2]) == ["npu-smi", "info"]
    return " ".join(argv[2:4]) if len(argv) > 2 else "table"


class FakeNpuSmi:
    """Answers npu-smi calls from fixture text and records them."""

    def __init__(self, answers: dict[str, str], overrides: dict[str, str | Exception] | None = None) -> None:
        self.texts: dict[str, str | Exception] = {k: (FIXTURES / v).read_text() for k, v in answers.items()}
        self.texts.update(overrides or {})
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout_s: float) -> str:
        self.calls.append(tuple(argv))
        answer = self.texts.get(_kind(argv))
        if answer is None:
            raise subprocess.CalledProcessError(255, list(argv), output=INVALID_ID, stderr="")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def count(self, kind: str) -> int:
        return sum(1 for argv in self.calls if _kind(argv) == kind)


def collector(node: str, **overrides: str | Exception) -> tuple[AscendCollector, FakeNpuSmi]:
    fake = FakeNpuSmi(NODES[node], overrides)
    return AscendCollector(node=node, run=fake), fake


def wire_without_ts(samples: list[CardSample]) -> list[dict[str, object]]:
    return [{k: v for k, v in sample_to_wire(s).items() if k != "ts"} for s in samples]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference captures are not on this machine")
@pytest.mark.parametrize("name", sorted(p.name for p in REFERENCE.glob("*")) if REFERENCE.is_dir() else [])
def test_fixture_is_byte_identical_to_the_reference_capture(name: str) -> None:
    assert (FIXTURES / name).read_bytes() == (REFERENCE / name).read_bytes()


@pytest.mark.parametrize("node", sorted(NODES))
def test_read_matches_golden_samples(node: str) -> None:
    samples = collector(node)[0].read()
    assert wire_without_ts(samples) == json.loads((GOLDEN / f"{node}.json").read_text())


@pytest.mark.parametrize("node", sorted(NODES))
def test_samples_survive_the_strict_wire_decoder(node: str) -> None:
    samples = collector(node)[0].read()
    assert [sample_from_wire(sample_to_wire(s)) for s in samples] == samples


def test_registered_under_its_entry_point() -> None:
    assert load("ascend") is AscendCollector


def test_a3_die_one_has_no_power_rather_than_zero() -> None:
    die0, die1 = collector("910c-a3")[0].read()[:2]
    assert (die0.power_w, die1.power_w) == (166.6, None)
    assert "power_w" not in die1.field_errors
    assert die1.mem_used_mib == 2886 and die1.bus_id == "0000:9F:00.0"


def test_310p_card_power_goes_to_a_single_chip_but_not_to_a_duo() -> None:
    single = collector("310p3-single")[0].read()
    duo = collector("310p3-duo")[0].read()
    assert single[0].power_w == 28.6
    assert [s.power_w for s in duo] == [None] * 4
    assert (duo[0].ecc_corrected_volatile, duo[0].ecc_corrected_aggregate, duo[0].retired_pages_dbe) == (
        3,
        17,
        1,
    )


def test_logic_ids_come_from_the_mapping_else_table_order() -> None:
    mapped = collector("310-inference")[0].read()
    assert [(s.index, s.bus_id) for s in mapped][:2] == [(0, "0000:89:00.0"), (1, "0000:8A:00.0")]
    unmapped = collector("910b4")[0].read()
    assert [s.index for s in unmapped] == [0, 1, 2, 3]
    assert [s.bus_id for s in unmapped] == ["0000:01:00.0", "0000:C2:00.0", "0000:02:00.0", "0000:81:00.0"]


def test_mapping_that_misses_a_chip_falls_back_to_table_order() -> None:
    partial = "\tNPU ID    Chip ID    Chip Logic ID    Chip Name\n\t1    0    7    Ascend 910B4\n"
    samples = collector("910b4", **{"-m": partial})[0].read()
    assert [s.index for s in samples] == [0, 1, 2, 3]


def test_warning_chip_carries_its_error_codes_and_text() -> None:
    ok, warning = collector("910a-warning")[0].read()
    assert (ok.vendor_health, ok.error_codes, ok.vendor_health_detail) == ("OK", (), None)
    assert warning.vendor_health == "Warning"
    assert warning.error_codes == ("80E18005",)
    assert warning.vendor_health_detail == "HBM single-bit ECC threshold exceeded (synthetic text)"


def test_alarm_health_with_multi_line_text_from_the_real_capture() -> None:
    alarm = _section(FIXTURES / "real_capture.mind-cluster.faultdiag.npu_info_after.910A.txt", "-t health")
    table = (FIXTURES / NODES["910a-warning"]["table"]).read_text().replace("Warning", "Alarm  ")
    sample = collector("910a-warning", table=table, **{"-t health": alarm})[0].read()[1]
    assert sample.vendor_health == "Alarm"
    assert sample.error_codes == ("A4025021", "8C03A000", "8C084E00")
    assert sample.vendor_health_detail is not None
    assert sample.vendor_health_detail.startswith("ascend_monitor adda heart beat lost error; node type=")
    assert sample.vendor_health_detail.endswith("event state=Heartbeat Lost.")


def _section(path: Path, marker: str) -> str:
    """The output printed after the first command line containing `marker` in a multi-command capture."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("/") and marker in line) + 1
    end = next((i for i in range(start, len(lines)) if lines[i][:1] not in ("\t", "\n", "")), len(lines))
    return "".join(lines[start:end])


def test_unknown_health_marks_the_chip_lost() -> None:
    table = (FIXTURES / NODES["910a-warning"]["table"]).read_text().replace("Warning", "UNKNOWN")
    lost = collector("910a-warning", table=table)[0].read()[1]
    assert lost.state is CardState.LOST
    assert lost.state_reason is not None and "UNKNOWN" in lost.state_reason


def test_unrecognised_health_word_is_an_error_not_a_verdict() -> None:
    table = (FIXTURES / NODES["910a-warning"]["table"]).read_text().replace("Warning", "Meh    ")
    chip = collector("910a-warning", table=table)[0].read()[1]
    assert chip.vendor_health is None
    assert "Meh" in chip.field_errors["vendor_health"]


def test_failed_detail_query_keeps_the_table_values() -> None:
    samples = collector("910b4", **{"-t common": INVALID_ID})[0].read()
    first = samples[0]
    assert first.state is CardState.OK
    assert (first.temp_c, first.power_w, first.mem_used_mib) == (41.0, 93.2, 2820.0)
    assert first.sm_clock_mhz is None and first.sm_clock_max_mhz is None
    assert first.field_errors["sm_clock_mhz"] == "npu-smi info -t common -i 1: Invalid card id."


def test_non_zero_exit_of_a_detail_query_is_a_field_error() -> None:
    failure = subprocess.CalledProcessError(
        3, ["npu-smi"], output="", stderr="dcmi module initialize failed\n"
    )
    first = collector("910b4", **{"-t ecc": failure})[0].read()[0]
    assert first.ecc_corrected_volatile is None
    assert first.field_errors["ecc_corrected_volatile"] == (
        "npu-smi info -t ecc -i 1 exited with status 3: dcmi module initialize failed"
    )


def test_timeout_marks_the_query_and_skips_the_rest_of_the_read() -> None:
    timeout = subprocess.TimeoutExpired(["npu-smi"], 5.0)
    coll, fake = collector("910b4", **{"-t common": timeout})
    samples = coll.read()
    assert samples[0].field_errors["sm_clock_mhz"] == "npu-smi info -t common -i 1 timed out after 5 s"
    assert "skipped" in samples[1].field_errors["sm_clock_mhz"]
    assert "skipped" in samples[3].field_errors["ecc_corrected_volatile"]
    assert fake.count("-t common") == 1 and fake.count("-t ecc") == 0
    assert [s.temp_c for s in samples] == [41.0, 40.0, 41.0, 40.0]


def test_table_failure_before_any_card_is_known_says_why() -> None:
    coll, _ = collector("910b4", table=subprocess.TimeoutExpired(["npu-smi"], 5.0))
    with pytest.raises(CollectorUnavailable, match=r"npu-smi info timed out after 5 s"):
        coll.read()


def test_table_failure_after_a_good_read_marks_every_known_card() -> None:
    coll, fake = collector("910b4")
    good = coll.read()
    fake.texts["table"] = "npu-smi: dcmi init failed\n"
    failed = coll.read()
    assert [(s.index, s.bus_id, s.model) for s in failed] == [(s.index, s.bus_id, s.model) for s in good]
    assert {s.state for s in failed} == {CardState.ERROR}
    assert failed[0].state_reason == "npu-smi info: no npu-smi device table in the output"
    assert failed[0].temp_c is None and failed[0].power_w is None


def test_truncated_table_marks_the_cut_chip_and_keeps_its_first_row() -> None:
    text = (FIXTURES / NODES["910b4"]["table"]).read_text()
    cut = text[: text.index("| 0                         | 0000:81:00.0")]
    samples = collector("910b4", table=cut)[0].read()
    assert [s.state for s in samples] == [CardState.OK] * 3 + [CardState.ERROR]
    last = samples[3]
    assert last.state_reason == "npu-smi info: the table row is truncated"
    assert (last.temp_c, last.power_w, last.bus_id, last.mem_used_mib) == (40.0, 96.3, None, None)


def test_garbled_table_cell_is_a_field_error_not_a_number() -> None:
    text = (FIXTURES / NODES["910b4"]["table"]).read_text().replace("93.2        41", "9x.2        -41", 1)
    first = collector("910b4", table=text)[0].read()[0]
    assert first.power_w is None and first.field_errors["power_w"] == "unreadable value '9x.2'"
    assert first.temp_c == -41.0


def test_slow_queries_run_on_every_tenth_read_and_on_health_change() -> None:
    coll, fake = collector("910a-warning")
    for _ in range(AscendCollector.SLOW_EVERY_READS + 1):
        coll.read()
    assert fake.count("table") == fake.count("-t common") // 2 == AscendCollector.SLOW_EVERY_READS + 1
    assert fake.count("-t ecc") == 4 and fake.count("-t health") == 2 and fake.count("-m") == 2
    fake.texts["table"] = str(fake.texts["table"]).replace("Warning", "Alarm  ")
    coll.read()
    assert fake.count("-t health") == 3


def test_npu_that_appears_between_slow_reads_says_its_ecc_is_not_read_yet() -> None:
    coll, fake = collector("910b4")
    coll.read()
    fake.texts["table"] = (FIXTURES / NODES["910c-a3"]["table"]).read_text()
    new_npu = coll.read()[0]
    assert new_npu.ecc_corrected_volatile is None
    assert new_npu.field_errors["ecc_corrected_volatile"] == ECC_NOT_YET
    assert new_npu.sm_clock_mhz == 1000.0


def test_a_complete_mapping_is_asked_for_once() -> None:
    coll, fake = collector("910a-training")
    for _ in range(AscendCollector.SLOW_EVERY_READS + 1):
        coll.read()
    assert fake.count("-m") == 1


def test_npu_smi_missing_from_path_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CollectorUnavailable) as raised:
        AscendCollector(node="n").read()
    assert str(raised.value) == NOT_FOUND


def test_probe_finds_the_davinci_manager_or_npu_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert not AscendCollector.probe(tmp_path)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "davinci_manager").touch()
    assert AscendCollector.probe(tmp_path)
    _fake_npu_smi(tmp_path / "bin", "exit 0")
    assert AscendCollector.probe(tmp_path / "elsewhere")


def _fake_npu_smi(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "npu-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.timeout(30)
def test_real_subprocess_reads_tables_and_reports_exit_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    table = FIXTURES / NODES["910b4"]["table"]
    common = FIXTURES / DETAILS_910["-t common"]
    body = (
        'case "$*" in\n'
        f'  "info") cat "{table}" ;;\n'
        f'  "info -t common -i "*) cat "{common}" ;;\n'
        '  *) echo "Invalid card id." ; echo "Error parameter of -i" >&2 ; exit 2 ;;\n'
        "esac"
    )
    monkeypatch.setenv("PATH", f"{_fake_npu_smi(tmp_path, body).parent}{os.pathsep}{os.environ['PATH']}")
    samples = AscendCollector(node="n").read()
    assert [s.sm_clock_mhz for s in samples] == [1000.0] * 4
    assert samples[0].field_errors["ecc_corrected_volatile"] == (
        "npu-smi info -t ecc -i 1 exited with status 2: Error parameter of -i"
    )


@pytest.mark.timeout(30)
def test_real_subprocess_that_hangs_is_killed_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = _fake_npu_smi(tmp_path, f"{shutil.which('sleep')} 60")
    monkeypatch.setenv("PATH", str(script.parent))
    with pytest.raises(CollectorUnavailable, match=r"npu-smi info timed out after 0.3 s"):
        AscendCollector(node="n", timeout_s=0.3).read()


TABLE_HEADER = "".join((FIXTURES / NODES["910b4"]["table"]).read_text().splitlines(keepends=True)[:6])
TABLE_TOKENS = [
    "|",
    "|",
    " ",
    "  ",
    "\n",
    "\n| ",
    "0",
    "1",
    "93.2",
    "41",
    "-",
    "NA",
    "/",
    "0000:01:00.0",
    "OK",
]
TABLE_TOKENS += ["Warning", "910B4", "nan", "-5", "1e999", "99999999999999999999999", "\x00", "é", "+===+"]


@settings(max_examples=80, deadline=None)
@given(st.booleans(), st.lists(st.sampled_from(TABLE_TOKENS), max_size=120))
def test_any_table_text_gives_samples_or_a_clear_unavailable(with_header: bool, tokens: list[str]) -> None:
    text = (TABLE_HEADER if with_header else "") + "".join(tokens)
    coll, _ = collector("910b4", table=text)
    try:
        samples = coll.read()
    except CollectorUnavailable as exc:
        assert str(exc).startswith("npu-smi info")
        return
    for sample in samples:
        sample_from_wire(sample_to_wire(sample))
