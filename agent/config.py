"""Agent settings from a TOML file and the command line (the command line wins)."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

DEFAULT_CONFIG_PATH: Final = Path("/etc/cardwatch/agent.toml")
DEFAULT_LISTEN: Final = "127.0.0.1:9464"
DEFAULT_RETENTION: Final = "7d"
KEYS: Final = (
    "listen",
    "interval",
    "collectors",
    "node",
    "token_file",
    "tls_cert",
    "tls_key",
    "db",
    "retention",
    "insecure",
)
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting and what is wrong."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything `cardwatch agent` needs to run."""

    host: str = "127.0.0.1"
    port: int = 9464
    interval_s: float = 1.0
    collectors: tuple[str, ...] = ("auto",)
    node: str | None = None
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    db: Path | None = None
    retention_s: float = 7 * 86400.0
    insecure: bool = False


def load_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file, refusing keys the agent does not know."""
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ConfigError(f"config {path}: unknown setting {', '.join(unknown)} (known: {', '.join(KEYS)})")
    return values


def build(file_values: Mapping[str, Any], cli_values: Mapping[str, Any]) -> AgentConfig:
    """Merge file and command-line settings (a command-line value that is not None wins) and check them."""
    merged = dict(file_values)
    merged.update({k: v for k, v in cli_values.items() if v is not None and v != ()})
    host, port = parse_listen(_typed(merged, "listen", str, DEFAULT_LISTEN))
    tls_cert, tls_key = _path(merged, "tls_cert"), _path(merged, "tls_key")
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("tls_cert and tls_key must be given together")
    return AgentConfig(
        host=host,
        port=port,
        interval_s=_interval(merged.get("interval", 1.0)),
        collectors=_collectors(merged.get("collectors", ["auto"])),
        node=_typed(merged, "node", str, None),
        token_file=_path(merged, "token_file"),
        tls_cert=tls_cert,
        tls_key=tls_key,
        db=_path(merged, "db"),
        retention_s=parse_duration(merged.get("retention", DEFAULT_RETENTION)),
        insecure=_typed(merged, "insecure", bool, False),
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:PORT``) -> (host, port)."""
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<port>\d+)|(?P<host>[^:\[\]]+):(?P<port2>\d+)", text.strip())
    if match is None:
        raise ConfigError(f"listen {text!r} is not HOST:PORT (IPv6: [ADDR]:PORT)")
    port = int(match["port"] or match["port2"])
    if not 0 <= port <= 65535:
        raise ConfigError(f"listen port {port} is out of range")
    return match["v6"] or match["host"], port


def parse_duration(value: Any) -> float:
    """``90``, ``"30s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", str(value).strip())
        if match is None:
            raise ConfigError(f"retention {value!r} is not a duration like 30s, 15m, 12h, 7d or 2w")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"retention {value!r} must be positive")
    return seconds


def _interval(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"interval {value!r} must be a positive number of seconds")
    return float(value)


def _collectors(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"collectors {value!r} must be a list of collector names")
    return tuple(names)


def _typed(values: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = values.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{key} {value!r} must be a {kind.__name__}")
    return value


def _path(values: Mapping[str, Any], key: str) -> Path | None:
    value = values.get(key)
    if value is not None and not isinstance(value, str | Path):
        raise ConfigError(f"{key} {value!r} must be a path")
    return None if value is None else Path(value)
