"""The TOML config: defaults, overrides, and clear errors for every kind of bad file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from cardwatch.health import HealthConfig, HealthEngine, load_config
from cardwatch.health_config import ConfigError, config_from_mapping, config_keys

DOCS = Path(__file__).parents[2] / "docs" / "health-rules.md"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "health.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == HealthConfig()


def test_sections_override_their_fields(tmp_path: Path) -> None:
    text = "[thermal]\nmargin_c = 8\n[straggler]\nz = 4.5\nmin_peers = 16\n[link]\nreplays_per_min = 20\n"
    cfg = load_config(write(tmp_path, text))
    assert (cfg.thermal_margin_c, cfg.straggler_z, cfg.straggler_min_peers) == (8.0, 4.5, 16)
    assert cfg.pcie_replays_per_min == 20.0
    assert isinstance(cfg.thermal_margin_c, float)
    assert cfg.raise_n == HealthConfig().raise_n


def test_a_loaded_threshold_changes_a_verdict(tmp_path: Path) -> None:
    from health_helpers import RuleSpec, run_pattern

    from cardwatch.health import Level

    cfg = load_config(write(tmp_path, "[thermal]\nmargin_c = 2\n"))
    spec = RuleSpec("TEMP_NEAR_SLOWDOWN", Level.WATCH, lambda t: {"temp_c": 87.0}, "87", config=cfg)
    assert run_pattern(spec, "HHHH")[0] == "...."
    assert (
        run_pattern(RuleSpec("TEMP_NEAR_SLOWDOWN", Level.WATCH, lambda t: {"temp_c": 87.0}, "87"), "HHHH")[0]
        == "..RR"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[thermal]\nmargin = 5\n", "unknown setting [thermal] margin"),
        ("[nonsense]\nx = 1\n", "unknown setting [nonsense] x"),
        ("margin_c = 5\n", "[margin_c] must be a table"),
        ('[thermal]\nmargin_c = "five"\n', "[thermal] margin_c must be a number, got 'five'"),
        ("[straggler]\nmin_peers = 2.5\n", "[straggler] min_peers must be a whole number"),
        ("[thermal]\nmargin_c = true\n", "must be a number, got True"),
        ("[ecc]\ncorrected_per_hour = -1\n", "must not be negative"),
        ("[hysteresis]\nraise_n = 6\n", "1 <= raise_n <= raise_m, got 6 and 5"),
        ("[thermal\nmargin_c = 5\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_config(write(tmp_path, text))
    assert error in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read health config"):
        load_config(tmp_path / "absent.toml")


def test_engine_takes_a_config() -> None:
    engine = HealthEngine(HealthConfig(raise_n=1, raise_m=1))
    assert engine.config.raise_n == 1


def test_documented_example_lists_every_setting_with_its_default() -> None:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert block is not None
    example = tomllib.loads(block.group(1))
    assert {(section, key) for section, table in example.items() for key in table} == set(config_keys())
    assert config_from_mapping(example) == HealthConfig()
