"""The sysfs collector against fixture trees shaped like real sysfs (node_exporter's --path.sysfs approach)."""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, load
from cardwatch.collectors.sysfs import SysfsCollector
from cardwatch.collectors.sysfs_devices import soc_vendor
from cardwatch.collectors.sysfs_read import MICRO_W, MILLI_C, AttrError, entries, read_pcie_gen, read_value
from cardwatch.model import CardSample, CardState, Throttle
from cardwatch.wire import sample_from_wire, sample_to_wire

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"
BOARDS = ("th1520", "rk3588", "amdgpu")
NODE = "fixture-node"
NPU = "class/devfreq/fdab0000.npu"
AMD_PCI = "bus/pci/devices/0000:03:00.0"
AMD_HWMON = f"{AMD_PCI}/hwmon/hwmon3"

CopyTree = Callable[[str], Path]


def read(sysfs: Path) -> list[CardSample]:
    return SysfsCollector(node=NODE, sysfs=sysfs).read()


def wire_without_ts(samples: list[CardSample]) -> list[dict[str, Any]]:
    return [{k: v for k, v in sample_to_wire(s).items() if k != "ts"} for s in samples]


@pytest.fixture
def copy_tree(tmp_path: Path) -> CopyTree:
    """A writable copy of a fixture board (root with its sys/), symlinks kept; one copy per board and test."""

    def copy(board: str) -> Path:
        root = tmp_path / board
        if not root.exists():
            shutil.copytree(FIXTURES / board, root, symlinks=True)
        return root

    return copy


@pytest.mark.parametrize("board", BOARDS)
def test_tree_reads_as_golden(board: str) -> None:
    """Each fixture tree gives exactly its reviewed golden samples."""
    golden = json.loads((FIXTURES / f"{board}.golden.json").read_text())
    assert wire_without_ts(read(FIXTURES / board / "sys")) == golden


@pytest.mark.parametrize("board", BOARDS)
def test_samples_survive_the_strict_wire_decoder(board: str) -> None:
    for sample in read(FIXTURES / board / "sys"):
        assert sample_from_wire(sample_to_wire(sample)) == sample


def test_registered_under_its_entry_point() -> None:
    cls = load("sysfs")
    assert cls is SysfsCollector
    assert len(cls(sysfs=FIXTURES / "rk3588" / "sys").read()) == 2


def test_missing_sysfs_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CollectorUnavailable, match="not a sysfs tree"):
        read(tmp_path / "nowhere")


# --- probe ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS)
def test_probe_finds_each_fixture_board(board: str) -> None:
    assert SysfsCollector.probe(FIXTURES / board)


def test_probe_is_false_on_this_plain_machine() -> None:
    """This x86 VM has no devicetree, no devfreq and no AMD GPU, so `auto` must not pick sysfs."""
    amd = any(p.read_text().strip() == "0x1002" for p in Path("/sys/bus/pci/devices").glob("*/vendor"))
    if Path("/sys/firmware/devicetree").exists() or Path("/sys/class/devfreq").exists() or amd:
        pytest.skip(f"this {platform.machine()} machine is an SoC board or has an accelerator")
    assert not SysfsCollector.probe(Path("/"))
    assert read(Path("/sys")) == []


def test_probe_is_false_on_an_empty_root(tmp_path: Path) -> None:
    assert not SysfsCollector.probe(tmp_path)


def test_x86_server_without_gpu_has_no_card(copy_tree: CopyTree) -> None:
    """An ACPI machine's CPU package zone and k10temp hwmon are not a card."""
    root = copy_tree("amdgpu")
    for name in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0", "0000:03:00.1"):
        (root / "sys/bus/pci/devices" / name).unlink()
    (root / "sys/class/hwmon/hwmon3").unlink()
    assert not SysfsCollector.probe(root)
    assert read(root / "sys") == []


def test_soc_without_thermal_zones_is_not_probed(copy_tree: CopyTree) -> None:
    root = copy_tree("th1520")
    shutil.rmtree(root / "sys/class/thermal")
    assert not SysfsCollector.probe(root)


def test_soc_with_only_a_memory_devfreq_is_one_soc_card(copy_tree: CopyTree) -> None:
    """Without NPU/GPU devfreq nodes the board is one card; the dmc devfreq and the fan are not throttling."""
    root = copy_tree("rk3588")
    for name in ("fdab0000.npu", "fb000000.gpu"):
        (root / "sys/class/devfreq" / name).unlink()
    assert SysfsCollector.probe(root)
    [card] = read(root / "sys")
    assert (card.vendor, card.model, card.index) == ("rockchip", "rk3588", 0)
    assert (card.temp_c, card.temp_slowdown_c, card.temp_shutdown_c) == (62.0, None, 115.0)
    assert card.throttle == frozenset()


# --- failing reads -------------------------------------------------------------------------------------


@pytest.fixture
def failing_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Make read(2) of chosen files fail with a chosen errno, as broken sysfs drivers do."""
    failures: dict[str, int] = {}
    real_read = os.read

    def read_or_fail(fd: int, size: int) -> bytes:
        target = os.readlink(f"/proc/self/fd/{fd}")
        for suffix, code in failures.items():
            if target.endswith(suffix):
                raise OSError(code, os.strerror(code))
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", read_or_fail)
    yield failures


def test_deleted_clock_file_is_unknown_with_reason(copy_tree: CopyTree) -> None:
    root = copy_tree("rk3588")
    (root / "sys" / NPU / "cur_freq").unlink()
    npu = read(root / "sys")[1]
    assert npu.sm_clock_mhz is None
    assert npu.field_errors == {"sm_clock_mhz": f"{NPU}/cur_freq: missing"}
    assert (npu.state, npu.temp_c) == (CardState.OK, 87.5)


@pytest.mark.parametrize("code", [errno.ENODATA, errno.EAGAIN, errno.EIO, errno.EINVAL, errno.EPERM])
def test_errno_on_zone_temp_is_unknown_with_reason(
    copy_tree: CopyTree, failing_reads: dict[str, int], code: int
) -> None:
    root = copy_tree("th1520")
    failing_reads["thermal_zone0/temp"] = code
    [card] = read(root / "sys")
    assert card.temp_c is None
    assert card.field_errors["temp_c"].startswith(
        f"class/thermal/thermal_zone0/temp: {errno.errorcode[code]}"
    )
    assert card.temp_shutdown_c == 110.0


@pytest.mark.parametrize("text", [b"N/A\n", b"", b"45.5\n", b"-274000\n", b"\xff\xfe"])
def test_garbled_hwmon_temp_is_unknown(copy_tree: CopyTree, text: bytes) -> None:
    root = copy_tree("amdgpu")
    (root / "sys" / AMD_HWMON / "temp2_input").write_bytes(text)
    [gpu] = read(root / "sys")
    assert gpu.temp_c is None
    assert gpu.field_errors["temp_c"].startswith(f"{AMD_HWMON}/temp2_input: ")
    assert gpu.mem_temp_c == 58.0


def test_directory_in_place_of_attribute_is_unknown(copy_tree: CopyTree) -> None:
    root = copy_tree("amdgpu")
    target = root / "sys" / AMD_PCI / "gpu_busy_percent"
    target.unlink()
    target.mkdir()
    [gpu] = read(root / "sys")
    assert gpu.util_pct is None
    assert "EISDIR" in gpu.field_errors["util_pct"]


def test_amdgpu_falls_back_to_instant_power(copy_tree: CopyTree) -> None:
    root = copy_tree("amdgpu")
    hwmon = root / "sys" / AMD_HWMON
    (hwmon / "power1_average").rename(hwmon / "power1_input")
    assert read(root / "sys")[0].power_w == 212.0
    (hwmon / "power1_input").unlink()
    [gpu] = read(root / "sys")
    assert gpu.power_w is None
    assert gpu.field_errors["power_w"] == f"{AMD_HWMON}/power1_input: missing"


def test_amdgpu_without_junction_uses_edge(copy_tree: CopyTree) -> None:
    root = copy_tree("amdgpu")
    for name in ("temp2_input", "temp2_label", "temp2_crit", "temp2_emergency"):
        (root / "sys" / AMD_HWMON / name).unlink()
    [gpu] = read(root / "sys")
    assert (gpu.temp_c, gpu.temp_slowdown_c, gpu.temp_shutdown_c) == (52.0, 100.0, 105.0)


def test_amdgpu_without_labels_uses_the_abi_channel_order(copy_tree: CopyTree) -> None:
    """Old drivers print no temp*_label: temp1 is edge, temp2 junction, temp3 mem."""
    root = copy_tree("amdgpu")
    for name in ("temp1_label", "temp2_label", "temp3_label"):
        (root / "sys" / AMD_HWMON / name).unlink()
    [gpu] = read(root / "sys")
    assert (gpu.temp_c, gpu.mem_temp_c) == (61.0, 58.0)


def test_hidden_optional_attributes_are_unknown_without_error(copy_tree: CopyTree) -> None:
    root = copy_tree("amdgpu")
    for name in ("pwm1", "power1_cap", "power1_cap_default"):
        (root / "sys" / AMD_HWMON / name).unlink()
    [gpu] = read(root / "sys")
    assert (gpu.fan_pct, gpu.power_limit_w, gpu.power_default_limit_w) == (None, None, None)
    assert gpu.field_errors == {}


def test_gpu_without_driver_is_an_error_card(copy_tree: CopyTree) -> None:
    root = copy_tree("amdgpu")
    (root / "sys/class/hwmon/hwmon3").unlink()
    shutil.rmtree(root / "sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0/0000:03:00.0/hwmon")
    [gpu] = read(root / "sys")
    assert gpu.state is CardState.ERROR
    assert "amdgpu driver" in (gpu.state_reason or "")
    assert gpu.temp_c is None


def test_devfreq_card_with_nothing_readable_is_an_error(copy_tree: CopyTree) -> None:
    root = copy_tree("rk3588")
    for name in ("cur_freq", "available_frequencies", "trans_stat", "max_freq"):
        (root / "sys" / NPU / name).unlink()
    (root / "sys/class/thermal/thermal_zone2").unlink()
    (root / "sys/class/thermal/cooling_device2").unlink()
    npu = read(root / "sys")[1]
    assert npu.state is CardState.ERROR
    assert set(npu.field_errors) == {"sm_clock_mhz", "sm_clock_max_mhz", "temp_c", "throttle"}
    assert npu.field_errors["temp_c"] == "no thermal zone belongs to fdab0000.npu"
    assert npu.throttle is None


def test_one_failed_throttle_signal_keeps_the_other(copy_tree: CopyTree) -> None:
    root = copy_tree("rk3588")
    (root / "sys/class/thermal/cooling_device2/cur_state").write_bytes(b"garbage\n")
    npu = read(root / "sys")[1]
    assert npu.throttle == frozenset({"devfreq:capped"})
    assert "cooling_device2/cur_state" in npu.field_errors["throttle"]


def test_devfreq_table_falls_back_to_trans_stat_rows(copy_tree: CopyTree) -> None:
    """Without available_frequencies the top frequency comes from trans_stat's row labels, not its fused header."""
    root = copy_tree("rk3588")
    (root / "sys" / NPU / "available_frequencies").unlink()
    npu = read(root / "sys")[1]
    assert npu.sm_clock_max_mhz == 1000.0
    assert "devfreq:capped" in (npu.throttle or ())
    (root / "sys" / NPU / "trans_stat").write_text("Not Supported.\n")
    npu = read(root / "sys")[1]
    assert npu.sm_clock_max_mhz is None
    assert npu.field_errors["sm_clock_max_mhz"] == (
        f"{NPU}/available_frequencies: missing; trans_stat: no transition table"
    )


def test_released_cooling_and_cap_mean_no_throttle(copy_tree: CopyTree) -> None:
    root = copy_tree("rk3588")
    (root / "sys/class/thermal/cooling_device2/cur_state").write_text("0\n")
    (root / "sys" / NPU / "max_freq").write_text("1000000000\n")
    assert read(root / "sys")[1].throttle == frozenset()


def test_cpufreq_cap_and_cooling_throttle_the_soc(copy_tree: CopyTree) -> None:
    root = copy_tree("th1520")
    (root / "sys/class/thermal/cooling_device0/cur_state").write_text("2\n")
    (root / "sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq").write_text("800000\n")
    [card] = read(root / "sys")
    assert card.throttle == {Throttle.SW_THERMAL, "sysfs:cooling_device", "cpufreq:capped"}


# --- helpers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gen"), [("2.5 GT/s PCIe", 1), ("5.0 GT/s PCIe", 2), ("8 GT/s", 3), ("32.0 GT/s PCIe", 5)]
)
def test_link_speed_as_generation(tmp_path: Path, text: str, gen: int) -> None:
    (tmp_path / "speed").write_text(text + "\n")
    assert read_pcie_gen(tmp_path / "speed") == gen


def test_unknown_link_speed_is_refused(tmp_path: Path) -> None:
    (tmp_path / "speed").write_text("Unknown\n")
    with pytest.raises(AttrError, match="unknown link speed"):
        read_pcie_gen(tmp_path / "speed")


def test_units_and_plausible_ranges(tmp_path: Path) -> None:
    attr = tmp_path / "attr"
    attr.write_text("-5000\n")
    assert read_value(attr, MILLI_C) == -5.0
    attr.write_text("-1\n")
    with pytest.raises(AttrError, match="implausible"):
        read_value(attr, MICRO_W)


@pytest.mark.parametrize(
    ("compatible", "vendor"),
    [
        (["milkv,pioneer", "sophgo,sg2042"], "sophgo"),
        (["starfive,visionfive-2-v1.3b", "starfive,jh7110"], "starfive"),
        (["bananapi,bpi-f3", "spacemit,k1"], "spacemit"),
        (["allwinner,sun20i-d1"], "generic"),
        ([], "generic"),
    ],
)
def test_soc_vendor_from_compatible(compatible: list[str], vendor: str) -> None:
    assert soc_vendor(compatible[::-1]) == vendor


def test_entries_sort_naturally(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        (tmp_path / f"thermal_zone{n}").mkdir()
    assert entries(tmp_path, r"thermal_zone\d+") == ["thermal_zone1", "thermal_zone2", "thermal_zone10"]


# --- properties ----------------------------------------------------------------------------------------

PROPERTY_TARGETS = [
    ("amdgpu", f"{AMD_HWMON}/temp2_input", 0, "temp_c", 1000),
    ("amdgpu", f"{AMD_HWMON}/power1_average", 0, "power_w", 1e6),
    ("amdgpu", f"{AMD_PCI}/mem_info_vram_used", 0, "mem_used_mib", 1024 * 1024),
    ("amdgpu", f"{AMD_PCI}/current_link_width", 0, "pcie_width", 1),
    ("rk3588", f"{NPU}/cur_freq", 1, "sm_clock_mhz", 1e6),
    ("rk3588", "class/thermal/thermal_zone2/trip_point_0_temp", 1, "temp_slowdown_c", 1000),
    ("th1520", "class/thermal/thermal_zone0/temp", 0, "temp_c", 1000),
    ("th1520", "devices/system/cpu/cpufreq/policy0/scaling_cur_freq", 0, "sm_clock_mhz", 1000),
]

hostile_bytes = st.one_of(
    st.binary(max_size=40),
    st.integers(min_value=-(10**25), max_value=10**25).map(lambda n: f"{n}\n".encode()),
    st.sampled_from([b"N/A\n", b"nan\n", b"-nan\n", b"inf\n", b"1e3\n", b"+5\n", b"0x10\n", b"1_000\n"]),
    st.sampled_from(["\u0663\u0664\n", "\uff15\n", "12 34\n", "\x1c7\n"]).map(str.encode),
    st.integers(min_value=4090, max_value=9000).map(lambda n: b"7" * n),
    st.binary(max_size=12).map(lambda tail: b"45000\n" + tail),
)


def _number_in(data: bytes) -> int | None:
    match = re.fullmatch(rb"[ \t\n]*(-?[0-9]+)[ \t\n]*", data)
    return int(match.group(1)) if match else None


@pytest.mark.parametrize(("board", "attr", "card", "field", "divisor"), PROPERTY_TARGETS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_attribute_never_yields_a_number_it_did_not_hold(
    copy_tree: CopyTree, board: str, attr: str, card: int, field: str, divisor: float, data: st.DataObject
) -> None:
    sysfs = copy_tree(board) / "sys"
    original = (FIXTURES / board / "sys" / attr).read_bytes()
    content = data.draw(st.one_of(hostile_bytes, st.integers(0, len(original)).map(lambda n: original[:n])))
    (sysfs / attr).write_bytes(content)
    sample = read(sysfs)[card]
    value = getattr(sample, field)
    if value is None:
        assert field in sample.field_errors
    else:
        number = _number_in(content)
        assert number is not None
        assert value == number / divisor


@pytest.mark.parametrize("board", BOARDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damaged_file_never_breaks_a_read(copy_tree: CopyTree, board: str, data: st.DataObject) -> None:
    """Damage to any attribute (names, vendor ids, zone types included) gives samples, never a traceback."""
    sysfs = copy_tree(board) / "sys"
    files = sorted(Path(top, name) for top, _, names in os.walk(sysfs) for name in names)
    files = [path for path in files if path.is_file() and not path.is_symlink()]
    target = data.draw(st.sampled_from(files))
    original = target.read_bytes()
    target.write_bytes(data.draw(hostile_bytes))
    try:
        samples = read(sysfs)
    finally:
        target.write_bytes(original)
    for sample in samples:
        wire = sample_to_wire(sample)
        assert all(math.isfinite(v) for v in wire.values() if isinstance(v, float))
        assert sample_from_wire(wire) == sample


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        hostile_bytes,
        st.lists(st.integers(0, 10**12), min_size=1, max_size=4).map(
            lambda hz: "".join(
                f"{'*' if i == 0 else ' '}{f:10d}:{0:10d}{0:10d}\n" for i, f in enumerate(hz)
            ).encode()
        ),
    )
)
def test_hostile_trans_stat_never_invents_a_frequency(copy_tree: CopyTree, content: bytes) -> None:
    sysfs = copy_tree("rk3588") / "sys"
    (sysfs / NPU / "available_frequencies").unlink(missing_ok=True)
    (sysfs / NPU / "trans_stat").write_bytes(content)
    npu = read(sysfs)[1]
    if npu.sm_clock_max_mhz is None:
        assert "sm_clock_max_mhz" in npu.field_errors
    else:
        assert re.search(rb"(?m)^[* ] *%d:" % round(npu.sm_clock_max_mhz * 1e6), content)
