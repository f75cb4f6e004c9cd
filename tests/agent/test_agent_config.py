"""Agent settings: TOML file, command line wins, clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardwatch.agent import units
from cardwatch.agent.config import AgentConfig, ConfigError, build, load_file, parse_duration, parse_listen


def test_defaults_are_loopback_and_one_second() -> None:
    config = build({}, {})
    assert (config.host, config.port, config.interval_s) == ("127.0.0.1", 9464, 1.0)
    assert config.collectors == ("auto",) and config.db is None and config.retention_s == 7 * 86400


def test_command_line_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        'listen = "0.0.0.0:9000"\ninterval = 5\ncollectors = ["nvml"]\ndb = "/var/h.db"\ninsecure = true\n'
    )
    config = build(load_file(path), {"interval": 0.5, "collectors": ("sim",), "db": None, "insecure": None})
    assert config == AgentConfig(
        host="0.0.0.0", port=9000, interval_s=0.5, collectors=("sim",), db=Path("/var/h.db"), insecure=True
    )


def test_example_config_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "packaging" / "agent.toml"
    assert path.read_text() == units.AGENT_TOML
    config = build(load_file(path), {})
    assert config.db == Path("/var/lib/cardwatch/history.db") and config.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("listen = 9464", "must be a str"),
        ('listen = "9464"', "HOST:PORT"),
        ('listen = "h:99999"', "out of range"),
        ("interval = 0", "positive"),
        ('interval = "1s"', "positive"),
        ("collectors = []", "list of collector names"),
        ('retention = "forever"', "duration"),
        ('tls_cert = "/c.pem"', "together"),
        ("colectors = []", "unknown setting colectors"),
        ("listen = ", "not valid TOML"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=error):
        build(load_file(path), {})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        ("30s", 30.0),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("1.5h", 5400.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_listen_parses_ipv6() -> None:
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen("gpu-01:1") == ("gpu-01", 1)


def test_cli_reads_the_config_file_and_its_options_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from cardwatch.agent import cli as agent_cli
    from cardwatch.cli import cli

    served: list[AgentConfig] = []
    monkeypatch.setattr(agent_cli, "serve", served.append)
    path = tmp_path / "agent.toml"
    path.write_text('listen = "0.0.0.0:9000"\ninterval = 5\ninsecure = true\nretention = "1d"\n')
    result = CliRunner().invoke(
        cli, ["agent", "--config", str(path), "--interval", "2", "--collector", "sim"]
    )
    assert result.exit_code == 0, result.output
    assert served == [
        AgentConfig(
            host="0.0.0.0", port=9000, interval_s=2.0, collectors=("sim",), retention_s=86400.0, insecure=True
        )
    ]
