"""The systemd unit verifies, packaging/ matches what `install` writes, and install behaves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cardwatch.agent import units
from cardwatch.agent.systemd import notify, watchdog_period_s
from cardwatch.cli import cli

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def test_packaging_files_are_what_install_writes() -> None:
    assert (PACKAGING / "systemd" / units.UNIT_NAME).read_text() == units.render_unit("/usr/bin/cardwatch")
    assert (PACKAGING / "systemd" / "cardwatch.sysusers").read_text() == units.SYSUSERS
    assert (PACKAGING / "systemd" / "cardwatch.tmpfiles").read_text() == units.TMPFILES


def test_unit_is_a_sandboxed_notify_service() -> None:
    unit = units.render_unit("/usr/bin/cardwatch")
    for line in (
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "User=cardwatch",
        "StateDirectory=cardwatch",
    ):
        assert line + "\n" in unit
    assert "PrivateDevices=" not in unit.replace("(no PrivateDevices=)", "")
    assert "ProtectSystem=strict\n" in unit and "DevicePolicy=" not in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / units.UNIT_NAME
    unit.write_text(units.render_unit(shutil.which("cardwatch") or sys.executable))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Failed" not in result.stderr


def test_install_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["agent", "install", "--dry-run", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert f"# {tmp_path}/etc/systemd/system/cardwatch-agent.service" in result.output
    assert "Type=notify" in result.output and "[Service]" in result.output
    assert list(tmp_path.iterdir()) == []


def test_install_writes_files_and_keeps_an_existing_config(tmp_path: Path) -> None:
    config = tmp_path / "etc/cardwatch/agent.toml"
    config.parent.mkdir(parents=True)
    config.write_text('listen = "127.0.0.1:1"\n')
    result = CliRunner().invoke(cli, ["agent", "install", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "etc/systemd/system/cardwatch-agent.service").read_text()
    assert "ExecStart=" in unit and " agent --config /etc/cardwatch/agent.toml" in unit
    assert (tmp_path / "etc/sysusers.d/cardwatch.conf").read_text() == units.SYSUSERS
    assert (tmp_path / "etc/tmpfiles.d/cardwatch.conf").read_text() == units.TMPFILES
    assert config.read_text() == 'listen = "127.0.0.1:1"\n' and "kept" in result.output


def test_install_that_cannot_write_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "etc").write_text("a file where a directory belongs")
    result = CliRunner().invoke(cli, ["agent", "install", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "cannot write" in result.output and "Traceback" not in result.output


def test_notify_is_a_no_op_outside_systemd() -> None:
    assert notify("READY=1", {}) is False
    assert watchdog_period_s({}) is None
    assert watchdog_period_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_period_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None


def test_notify_to_a_dead_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False
