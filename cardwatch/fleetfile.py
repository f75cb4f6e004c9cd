"""The fleet file: which agents to watch, how they group, and how to authenticate to them.

A TOML file lists agents directly (top-level ``agents``) and in groups (``[rack.<name>]``,
``[cluster.<name>]``, ``[job.<name>]``); an agent listed in several places is watched once and carries
every group it is in. Host lists expand Slurm-style: ``gpu[001-128]:9464`` is 128 agents, zero padding
kept, several ranges multiply (``r[1-2]n[01-04]``), commas list (``gpu[001-004,010]``).
Tokens and CA certificates are read at load time, so a bad file fails before any connection is made.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

DEFAULT_PORT: Final = 9464
GROUP_KINDS: Final = ("rack", "cluster", "job")
MAX_EXPANSION: Final = 65536
"""Most agents one host pattern may expand to (a typo like ``[0-9999999]`` must not eat memory)."""

_CREDENTIAL_KEYS: Final = frozenset({"token", "token_file", "ca_cert"})
_TOP_KEYS: Final = _CREDENTIAL_KEYS | {"agents", *GROUP_KINDS}
_GROUP_KEYS: Final = _CREDENTIAL_KEYS | {"agents"}
_RANGE: Final = re.compile(r"\[([0-9][0-9,\-]*)\]")
_HOST: Final = re.compile(r"[A-Za-z0-9._-]+")


class FleetFileError(ValueError):
    """A fleet file or agent address that cannot be used; the message names the file:line or key."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent to watch: its base URL, the groups its node belongs to, and its credentials."""

    url: str  # base URL, e.g. "http://gpu001:9464"
    groups: Mapping[str, str] = field(default_factory=dict, hash=False)  # kind -> name, e.g. {"rack": "a01"}
    token: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None


@dataclass(slots=True)
class _Credentials:
    token: str | None = None
    ca_cert: Path | None = None


def expand_hosts(pattern: str) -> list[str]:
    """Every address a host pattern stands for, in order (``gpu[01-03]:1`` -> gpu01:1, gpu02:1, gpu03:1)."""
    parts = _RANGE.split(pattern)
    choices = [[text] if i % 2 == 0 else _expand_range(text, pattern) for i, text in enumerate(parts)]
    total = 1
    for options in choices:
        total *= len(options)
    if total > MAX_EXPANSION:
        raise FleetFileError(f"{pattern!r} expands to {total} agents (at most {MAX_EXPANSION})")
    return ["".join(combo) for combo in itertools.product(*choices)]


def _expand_range(body: str, pattern: str) -> list[str]:
    out: list[str] = []
    for item in body.split(","):
        first, sep, last = item.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise FleetFileError(f"{pattern!r}: bad range item {item!r} (use [001-128] or [1,3,5-7])")
        stop = int(last) if sep else int(first)
        if stop < int(first):
            raise FleetFileError(f"{pattern!r}: range {item!r} runs backwards")
        if stop - int(first) >= MAX_EXPANSION:
            raise FleetFileError(f"{pattern!r}: range {item!r} is longer than {MAX_EXPANSION}")
        out.extend(str(n).zfill(len(first)) for n in range(int(first), stop + 1))
    return out


def agent_url(address: str) -> str:
    """Normalize ``host``, ``host:port`` or ``http(s)://host[:port]`` to a base URL with scheme and port."""
    text = address.strip()
    if not text:
        raise FleetFileError("empty agent address")
    try:
        parsed = urlsplit(text if "://" in text else f"http://{text}")
        port = parsed.port or DEFAULT_PORT
    except ValueError as exc:
        raise FleetFileError(f"{address!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise FleetFileError(f"{address!r}: scheme must be http or https")
    if not parsed.hostname or not (":" in parsed.hostname or _HOST.fullmatch(parsed.hostname)):
        raise FleetFileError(f"{address!r}: no valid host name (ranges look like gpu[001-128])")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.username:
        raise FleetFileError(f"{address!r}: give only scheme, host and port (no path, query or user)")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{parsed.scheme}://{host}:{port}"


def expand_agents(patterns: Iterable[str]) -> list[str]:
    """Base URLs of every agent the patterns name, deduplicated, in order."""
    urls = (agent_url(address) for pattern in patterns for address in expand_hosts(pattern))
    return list(dict.fromkeys(urls))


def load_fleet_file(path: Path) -> list[AgentSpec]:
    """Parse and check a fleet file; every problem is a `FleetFileError` naming file:line or key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetFileError(f"{path}: cannot read fleet file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FleetFileError(f"{path}: {exc}") from None
    return _FileReader(path, text).agents(data)


def resolve_agents(
    urls: Sequence[str],
    fleet_file: Path | None = None,
    token_file: Path | None = None,
    ca_cert: Path | None = None,
) -> list[AgentSpec]:
    """The agents to watch: the fleet file's plus command-line URLs; CLI credentials fill the gaps."""
    default = _Credentials(
        token=_read_token(token_file, "--token-file") if token_file else None,
        ca_cert=_check_ca(ca_cert, "--ca-cert") if ca_cert else None,
    )
    specs = {spec.url: spec for spec in (load_fleet_file(fleet_file) if fleet_file else [])}
    for url in _expand_cli(urls):
        specs.setdefault(url, AgentSpec(url))
    if not specs:
        raise FleetFileError("no agents to watch: give agent URLs or --fleet FILE")
    return [_with_defaults(spec, default) for spec in specs.values()]


def _expand_cli(urls: Sequence[str]) -> list[str]:
    try:
        return expand_agents(urls)
    except FleetFileError as exc:
        raise FleetFileError(f"command line: {exc}") from None


def _with_defaults(spec: AgentSpec, default: _Credentials) -> AgentSpec:
    return AgentSpec(
        url=spec.url,
        groups=spec.groups,
        token=spec.token if spec.token is not None else default.token,
        ca_cert=spec.ca_cert or default.ca_cert,
    )


def _read_token(path: Path, where: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetFileError(f"{where}: cannot read token file {path}: {exc}") from None
    if not token:
        raise FleetFileError(f"{where}: token file {path} is empty")
    return token


def _check_ca(path: Path, where: str) -> Path:
    if not path.is_file():
        raise FleetFileError(f"{where}: CA certificate {path} does not exist")
    return path


class _FileReader:
    """Walks a parsed fleet file, turning each problem into an error that points at its line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def agents(self, data: Mapping[str, Any]) -> list[AgentSpec]:
        self._check_keys(data, _TOP_KEYS, "")
        default = self._credentials(data, "", _Credentials())
        groups: dict[str, dict[str, str]] = {url: {} for url in self._urls(data, "")}
        creds: dict[str, list[tuple[str, _Credentials]]] = {}
        for kind, name, table in self._groups(data):
            where = f"{kind}.{name}"
            group_creds = self._credentials(table, where, default)
            for url in self._urls(table, where):
                kinds = groups.setdefault(url, {})
                if kinds.get(kind, name) != name:
                    self._fail(where, f"{url} is already in {kind} {kinds[kind]!r}", text=f"{kind}.{name}")
                kinds[kind] = name
                creds.setdefault(url, []).append((where, group_creds))
        return [self._spec(url, kinds, creds.get(url, []), default) for url, kinds in groups.items()]

    def _groups(self, data: Mapping[str, Any]) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
        for kind in GROUP_KINDS:
            tables = data.get(kind, {})
            if not isinstance(tables, Mapping):
                self._fail(kind, f"use [{kind}.<name>] tables", key=kind)
            for name, table in tables.items():
                if not isinstance(table, Mapping):
                    self._fail(f"{kind}.{name}", "must be a table with an agents list", text=f"{kind}.{name}")
                self._check_keys(table, _GROUP_KEYS, f"{kind}.{name}.")
                yield kind, name, table

    def _spec(
        self, url: str, groups: dict[str, str], creds: list[tuple[str, _Credentials]], default: _Credentials
    ) -> AgentSpec:
        tokens = {where: c.token for where, c in creds if c.token != default.token}
        cas = {where: c.ca_cert for where, c in creds if c.ca_cert != default.ca_cert}
        for what, found in (("token", tokens), ("ca_cert", cas)):
            if len(set(found.values())) > 1:
                first = next(iter(found))
                self._fail(first, f"{url} gets different {what}s from {', '.join(found)}", text=first)
        return AgentSpec(
            url=url,
            groups=groups,
            token=next(iter(tokens.values()), default.token),
            ca_cert=next(iter(cas.values()), default.ca_cert),
        )

    def _urls(self, table: Mapping[str, Any], prefix: str) -> list[str]:
        key = f"{prefix}.agents" if prefix else "agents"
        patterns = table.get("agents", [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            self._fail(key, "must be a list of strings", key="agents")
        urls: list[str] = []
        for i, pattern in enumerate(patterns):
            try:
                urls.extend(expand_agents([pattern]))
            except FleetFileError as exc:
                self._fail(f"{key}[{i}]", str(exc), text=f'"{pattern}"')
        return urls

    def _credentials(self, table: Mapping[str, Any], prefix: str, default: _Credentials) -> _Credentials:
        dotted = f"{prefix}." if prefix else ""
        for name in sorted(_CREDENTIAL_KEYS & table.keys()):
            if not isinstance(table[name], str) or not table[name]:
                self._fail(f"{dotted}{name}", "must be a non-empty string", key=name)
        if "token" in table and "token_file" in table:
            self._fail(f"{dotted}token", "give token or token_file, not both", key="token")
        token = table.get("token", default.token)
        if "token_file" in table:
            token = _read_token(self._relative(table["token_file"]), self._where(f"{dotted}token_file"))
        ca_cert = default.ca_cert
        if "ca_cert" in table:
            ca_cert = _check_ca(self._relative(table["ca_cert"]), self._where(f"{dotted}ca_cert"))
        return _Credentials(token=token, ca_cert=ca_cert)

    def _check_keys(self, table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for name in sorted(table.keys() - allowed):
            self._fail(f"{prefix}{name}", f"unknown key (expected {', '.join(sorted(allowed))})", key=name)

    def _relative(self, name: str) -> Path:
        return self.path.parent / Path(name).expanduser()

    def _where(self, dotted: str, *, key: str | None = None, text: str | None = None) -> str:
        name = key or dotted.rpartition(".")[2]
        keyed = re.compile(rf"\s*[\"']?{re.escape(name)}[\"']?\s*=")
        start = self._table_start(dotted)
        lines = enumerate(self.lines[start:], start + 1)
        line = next((n for n, t in lines if (text in t if text else keyed.match(t))), None)
        return f"{self.path}:{line}: {dotted}" if line else f"{self.path}: {dotted}"

    def _table_start(self, dotted: str) -> int:
        kind, _, rest = dotted.partition(".")
        if kind not in GROUP_KINDS or "." not in rest:
            return 0
        header = f"[{kind}.{rest.partition('.')[0]}]"
        return next((n for n, line in enumerate(self.lines) if line.strip() == header), 0)

    def _fail(
        self, dotted: str, message: str, *, key: str | None = None, text: str | None = None
    ) -> NoReturn:
        raise FleetFileError(f"{self._where(dotted, key=key, text=text)}: {message}")
