"""Every threshold the health engine uses, with its default, loadable from TOML.

Each field names its TOML section and key in its metadata, so `docs/health-rules.md`, the loader and
the defaults cannot drift apart: ``[thermal] margin_c = 5`` sets `HealthConfig.thermal_margin_c`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The health config file is missing, not TOML, or has an unknown key or a bad value."""


def _opt(default: float | int, section: str, key: str) -> Any:
    return field(default=default, metadata={"section": section, "key": key})


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Rule thresholds; see docs/health-rules.md for why each default was chosen."""

    raise_n: int = _opt(3, "hysteresis", "raise_n")
    raise_m: int = _opt(5, "hysteresis", "raise_m")
    clear_after: int = _opt(5, "hysteresis", "clear_after")
    window_samples: int = _opt(10, "hysteresis", "window_samples")
    rate_window_samples: int = _opt(60, "hysteresis", "rate_window_samples")
    busy_util_pct: float = _opt(50.0, "busy", "util_pct")
    thermal_margin_c: float = _opt(5.0, "thermal", "margin_c")
    mem_thermal_margin_c: float = _opt(5.0, "thermal", "mem_margin_c")
    power_limit_tolerance_frac: float = _opt(0.05, "power", "limit_tolerance_frac")
    clock_low_frac: float = _opt(0.20, "clocks", "low_frac")
    straggler_util_min_pct: float = _opt(90.0, "straggler", "util_min_pct")
    straggler_z: float = _opt(3.5, "straggler", "z")
    straggler_min_frac: float = _opt(0.05, "straggler", "min_frac")
    straggler_min_peers: int = _opt(4, "straggler", "min_peers")
    straggler_power_band_frac: float = _opt(0.10, "straggler", "power_band_frac")
    ecc_corrected_per_hour: float = _opt(1000.0, "ecc", "corrected_per_hour")
    ecc_baseline_factor: float = _opt(10.0, "ecc", "baseline_factor")
    ecc_accel_factor: float = _opt(1.5, "ecc", "accel_factor")
    retired_pages_limit: int = _opt(60, "ecc", "retired_pages_limit")
    pcie_replays_per_min: float = _opt(8.0, "link", "replays_per_min")
    rate_min_span_s: float = _opt(60.0, "link", "rate_min_span_s")
    event_hold_s: float = _opt(600.0, "events", "hold_s")
    stuck_degraded_s: float = _opt(60.0, "collector", "stuck_degraded_s")
    top_n: int = _opt(10, "summary", "top_n")

    def __post_init__(self) -> None:
        if not 1 <= self.raise_n <= self.raise_m:
            raise ConfigError(
                f"[hysteresis] needs 1 <= raise_n <= raise_m, got {self.raise_n} and {self.raise_m}"
            )
        if self.clear_after < 1 or self.window_samples < 1 or self.rate_window_samples < 2:
            raise ConfigError(
                "[hysteresis] clear_after and window_samples must be >= 1, rate_window_samples >= 2"
            )


def config_keys() -> dict[tuple[str, str], str]:
    """(section, key) -> field name, for the loader and the docs test."""
    return {(f.metadata["section"], f.metadata["key"]): f.name for f in fields(HealthConfig)}


def load_config(path: Path) -> HealthConfig:
    """Read a TOML file whose sections override defaults; unknown keys are errors, not silently ignored."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read health config {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"health config {path} is not valid TOML: {exc}") from exc
    return config_from_mapping(data, origin=str(path))


def config_from_mapping(data: dict[str, Any], origin: str = "config") -> HealthConfig:
    """Apply ``{section: {key: value}}`` overrides to the defaults, checking names and types."""
    known = config_keys()
    base = HealthConfig()
    changes: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table of settings")
        for key, value in table.items():
            name = known.get((section, key))
            if name is None:
                raise ConfigError(f"{origin}: unknown setting [{section}] {key}")
            changes[name] = _checked(value, getattr(base, name), f"{origin}: [{section}] {key}")
    return replace(base, **changes)


def _checked(value: object, default: float | int, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where} must not be negative, got {value!r}")
    return type(default)(value)
