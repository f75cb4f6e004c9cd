"""The shared CLI-collector plumbing: real tool processes, value parsing, PCI discovery and auto detection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwatch.collectors import CollectorUnavailable, available
from cardwatch.collectors.tool import (
    QueryFailed,
    Reading,
    ToolCollector,
    bus_id,
    card_index,
    count,
    number,
    pci_functions,
    run_tool,
)
from cardwatch.model import CardState

CLI_COLLECTORS = ("amd", "mthreads", "metax", "cambricon", "enflame", "ppu")


class EchoCollector(ToolCollector):
    """A collector whose 'tool' is a script written by the test."""

    name = "echo"
    vendor = "test"
    tool = "echo-smi"
    pci_vendor = "0xfeed"
    install_hint = "write the test script first"

    def readings(self) -> list[Reading]:
        return [Reading(index=int(line), values={"temp_c": 40.0}) for line in self.query("--list").split()]


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "echo-smi"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(0o755)
    return path


def collector_for(path: Path, timeout_s: float = 5.0) -> EchoCollector:
    collector = EchoCollector(node="n1", timeout_s=timeout_s)
    collector.tool = str(path)
    return collector


def test_a_real_tool_process_is_read(tmp_path: Path) -> None:
    path = script(tmp_path, "print('0 1') if sys.argv[1:] == ['--list'] else sys.exit(3)")
    samples = collector_for(path).read()
    assert [(s.index, s.temp_c, s.source, s.vendor) for s in samples] == [
        (0, 40.0, "echo", "test"),
        (1, 40.0, "echo", "test"),
    ]


def test_a_hung_tool_is_killed_and_known_cards_are_marked(tmp_path: Path) -> None:
    path = script(tmp_path, "print('0')")
    collector = collector_for(path, timeout_s=2.0)
    collector.read()
    script(tmp_path, "time.sleep(60)")
    (sample,) = collector.read()
    assert sample.state is CardState.ERROR and sample.state_reason == f"{path} --list timed out after 2 s"


def test_a_failing_tool_gives_its_first_stderr_line(tmp_path: Path) -> None:
    path = script(tmp_path, "sys.stderr.write('\\n  driver not loaded\\nmore\\n'); sys.exit(4)")
    with pytest.raises(CollectorUnavailable, match=r"exited with status 4: driver not loaded$"):
        collector_for(path).read()


def test_a_missing_tool_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CollectorUnavailable, match="was not found on PATH: write the test script first"):
        collector_for(tmp_path / "nope").read()


def test_an_unexecutable_tool_is_a_failed_query(tmp_path: Path) -> None:
    path = tmp_path / "echo-smi"
    path.write_text("not a program")
    with pytest.raises(QueryFailed, match=r"failed: .*Permission denied"):
        collector_for(path).query("--list")


def test_run_tool_returns_stdout_text(tmp_path: Path) -> None:
    path = script(tmp_path, "print('35℃')")
    assert run_tool([str(path)], 5.0) == "35℃\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("00000000:3A:00.0", "0000:3a:00.0"), ("00:3d:0.0", "0000:3d:00.0"), ("0000:1b:00.0", "0000:1b:00.0")],
)
def test_bus_ids_are_normalised_to_sysfs_form(raw: str, expected: str) -> None:
    assert bus_id(raw, {}) == expected


def test_values_absent_unreadable_and_units() -> None:
    errors: dict[str, str] = {}
    assert number("68W", "power_w", errors, unit="W") == 68.0
    assert number("N/A", "temp_c", errors) is None and errors == {}
    assert number("-5", "power_w", errors) is None and errors == {"power_w": "unreadable value '-5'"}
    assert number("-5C", "temp_c", errors, unit="C", signed=True) == -5.0
    assert count("12", "x", errors) == 12 and count("1e3", "y", errors) is None and "y" in errors
    assert bus_id("nowhere", errors) is None and errors["bus_id"] == "unreadable PCI address 'nowhere'"
    assert card_index("7") == 7 and card_index("²") is None and card_index("12345") is None


@given(st.text(max_size=30))
def test_number_never_raises_and_is_none_or_finite(raw: str) -> None:
    value = number(raw, "x", {}, unit="W", signed=True)
    assert value is None or (value == value and abs(value) < 1e13)


def test_pci_functions_match_the_vendor_file(tmp_path: Path) -> None:
    for address, vendor in (
        ("0000:01:00.0", "0x1ed5"),
        ("0000:02:00.0", "0x8086"),
        ("0000:03:00.0", "0x1ed5"),
    ):
        device = tmp_path / "bus" / "pci" / "devices" / address
        device.mkdir(parents=True)
        (device / "vendor").write_text(vendor + "\n")
    (tmp_path / "bus" / "pci" / "devices" / "0000:04:00.0").mkdir()
    assert pci_functions(tmp_path, "0x1ed5") == ["0000:01:00.0", "0000:03:00.0"]
    assert pci_functions(tmp_path / "missing", "0x1ed5") == []


def test_every_cli_collector_is_registered_and_absent_here() -> None:
    loaders = available()
    for name in CLI_COLLECTORS:
        cls = loaders[name]()
        assert cls.name == name and not cls.probe()


def test_importing_the_new_collectors_loads_no_textual_and_no_vendor_library() -> None:
    modules = [f"cardwatch.collectors.{name}" for name in (*CLI_COLLECTORS, "mtml")]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    )
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "pynvml", "amdsmi", "pymtml")}
