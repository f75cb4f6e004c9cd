"""The CLI as a user meets it: probe, help on every command, every command documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cardwatch import __version__
from cardwatch.cli import cli
from cardwatch.collectors.sim import SimCollector
from cardwatch.wire import sample_from_wire

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert command.help and "cardwatch" in command.help, f"{name} help lacks an example"


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_is_in_the_readme(name: str, command: click.Command) -> None:
    assert re.search(rf"cardwatch {re.escape(name)}\b", README.read_text()), f"README lacks `cardwatch {name}`"


def test_probe_sim_prints_one_row_per_card() -> None:
    result = CliRunner().invoke(cli, ["probe", "--collector", "sim"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "NVIDIA H100" in line]
    assert len(rows) == 8
    assert rows[0].split()[:3] == ["sim-node", "0", "nvidia"]


def test_probe_json_is_the_wire_form() -> None:
    result = CliRunner().invoke(cli, ["probe", "-c", "sim", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.output)
    samples = [sample_from_wire(card) for card in payload["cards"]]
    expected = SimCollector().read()
    assert [(s.index, s.uuid, s.model) for s in samples] == [(s.index, s.uuid, s.model) for s in expected]
    assert payload["collectors"][0]["name"] == "sim" and payload["collectors"][0]["ok"] is True


def test_probe_without_accelerator_says_so_and_points_to_the_simulator() -> None:
    result = CliRunner().invoke(cli, ["probe"])
    assert result.exit_code == 1
    assert "No accelerator found" in result.output and "--collector sim" in result.output
    assert "Traceback" not in result.output


def test_probe_nvml_without_driver_is_one_clear_error() -> None:
    result = CliRunner().invoke(cli, ["probe", "--collector", "nvml"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nvml: ")
    assert result.exception is None or isinstance(result.exception, SystemExit)
