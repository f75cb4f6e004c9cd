"""`cardwatch fleet` refuses bad input with one clear line, before any screen opens, and never loads Textual early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cardwatch.cli import cli


def test_no_agents_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["fleet"])
    assert result.exit_code == 1
    assert "no agents to watch" in result.output and "Traceback" not in result.output


def test_a_bad_fleet_file_names_file_and_line(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('[rack.a01]\nagents = ["gpu[010-001]"]\n')
    result = CliRunner().invoke(cli, ["fleet", "--fleet", str(fleet_file)])
    assert result.exit_code == 1
    assert f"{fleet_file}:2" in result.output and "runs backwards" in result.output


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fleet", "127.0.0.1:9", "--token-file", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "--token-file" in result.output and "Traceback" not in result.output


def test_headless_view_modules_never_import_textual() -> None:
    code = (
        "import sys, cardwatch.heat, cardwatch.view, cardwatch.export, cardwatch.fleet_cli\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
