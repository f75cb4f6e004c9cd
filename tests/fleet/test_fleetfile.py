"""The fleet file: host ranges, groups, credentials, and errors that point at the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardwatch.fleetfile import (
    AgentSpec,
    FleetFileError,
    agent_url,
    expand_agents,
    expand_hosts,
    load_fleet_file,
    resolve_agents,
)

PACKAGED = Path(__file__).parents[2] / "packaging" / "fleet.toml"


def _write(tmp_path: Path, text: str, name: str = "fleet.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_range_keeps_zero_padding() -> None:
    assert expand_hosts("gpu[008-011]:9464") == ["gpu008:9464", "gpu009:9464", "gpu010:9464", "gpu011:9464"]


def test_several_ranges_multiply_and_commas_list() -> None:
    assert expand_hosts("r[1-2]n[01,03]") == ["r1n01", "r1n03", "r2n01", "r2n03"]
    assert expand_hosts("gpu[1-2,10]") == ["gpu1", "gpu2", "gpu10"]


def test_range_of_128_expands_to_128_distinct_hosts() -> None:
    hosts = expand_hosts("https://gpu[001-128].dc.example:9464")
    assert len(set(hosts)) == 128
    assert hosts[0] == "https://gpu001.dc.example:9464"
    assert hosts[-1] == "https://gpu128.dc.example:9464"


@pytest.mark.parametrize("pattern", ["gpu[5-1]", "gpu[a-b]", "gpu[1-]", "gpu[0-99999999]"])
def test_bad_ranges_are_refused(pattern: str) -> None:
    with pytest.raises(FleetFileError, match="gpu"):
        expand_agents([pattern])


def test_ipv6_brackets_are_not_ranges() -> None:
    assert expand_hosts("[::1]:9000") == ["[::1]:9000"]
    assert agent_url("[::1]:9000") == "http://[::1]:9000"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("gpu001", "http://gpu001:9464"),
        ("gpu001:9000", "http://gpu001:9000"),
        ("https://gpu001", "https://gpu001:9464"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ],
)
def test_addresses_normalize_to_base_urls(address: str, url: str) -> None:
    assert agent_url(address) == url


@pytest.mark.parametrize(
    "address",
    ["", "ftp://gpu1", "gpu1:notaport", "gpu[a-b]", "[zz]:1", "http://gpu1:9464/v1/stream", "http://:80"],
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(FleetFileError):
        agent_url(address)


def test_groups_tokens_and_ca_cert(tmp_path: Path) -> None:
    (tmp_path / "default.token").write_text("fleet-secret\n")
    (tmp_path / "a02.token").write_text("rack-secret")
    (tmp_path / "ca.pem").write_text("not parsed here")
    path = _write(
        tmp_path,
        """
token_file = "default.token"
agents = ["login01"]

[rack.a01]
agents = ["gpu[01-02]:9464"]

[rack.a02]
agents = ["gpu03:9464"]
token_file = "a02.token"
ca_cert = "ca.pem"

[job.train]
agents = ["gpu[02-03]:9464", "https://extra:1"]
""",
    )
    specs = {spec.url: spec for spec in load_fleet_file(path)}
    assert list(specs) == [
        "http://login01:9464",
        "http://gpu01:9464",
        "http://gpu02:9464",
        "http://gpu03:9464",
        "https://extra:1",
    ]
    assert specs["http://login01:9464"] == AgentSpec("http://login01:9464", {}, "fleet-secret")
    assert specs["http://gpu02:9464"].groups == {"rack": "a01", "job": "train"}
    assert specs["http://gpu03:9464"].token == "rack-secret"
    assert specs["http://gpu03:9464"].ca_cert == tmp_path / "ca.pem"
    assert specs["https://extra:1"].groups == {"job": "train"}
    assert specs["https://extra:1"].token == "fleet-secret"


def test_token_never_shows_in_repr() -> None:
    assert "hunter2" not in repr(AgentSpec("http://a:1", token="hunter2"))


def test_command_line_urls_join_the_file_and_cli_token_fills_gaps(tmp_path: Path) -> None:
    (tmp_path / "cli.token").write_text("cli-secret")
    path = _write(
        tmp_path, '[rack.r1]\nagents = ["gpu1"]\ntoken = "rack-secret"\n\n[rack.r2]\nagents = ["gpu2"]\n'
    )
    specs = resolve_agents(["gpu1", "127.0.0.1:[9000-9001]"], path, token_file=tmp_path / "cli.token")
    assert [(s.url, s.token, dict(s.groups)) for s in specs] == [
        ("http://gpu1:9464", "rack-secret", {"rack": "r1"}),
        ("http://gpu2:9464", "cli-secret", {"rack": "r2"}),
        ("http://127.0.0.1:9000", "cli-secret", {}),
        ("http://127.0.0.1:9001", "cli-secret", {}),
    ]


def test_nothing_to_watch_is_an_error() -> None:
    with pytest.raises(FleetFileError, match="no agents"):
        resolve_agents([])


def test_packaged_example_loads(tmp_path: Path) -> None:
    text = PACKAGED.read_text()
    for name in ("tokens/fleet.token", "tokens/rack-a02.token", "certs/lab-ca.pem"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    specs = load_fleet_file(_write(tmp_path, text))
    assert len(specs) == 1 + 32 + 8
    by_url = {s.url: s for s in specs}
    assert by_url["http://gpu007:9464"].groups == {"rack": "a01", "cluster": "east", "job": "llm-pretrain-42"}
    assert by_url["https://ascend03.lab.example:9464"].ca_cert == tmp_path / "certs/lab-ca.pem"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('agents = ["gpu1"\n', r"fleet.toml: Unclosed array"),
        (
            'agents = ["gpu1"]\n\n[rack.a]\nagents = ["gpu[3-1]"]\n',
            r"fleet.toml:4: rack.a.agents\[0\]: .*backwards",
        ),
        ('agents = ["gpu1"]\nagnets = ["gpu2"]\n', r"fleet.toml:2: agnets: unknown key"),
        (
            '[rack.a]\nagents = ["g1"]\n\n[rack.b]\nagents = ["g1"]\n',
            r"fleet.toml:4: rack.b: .*already in rack 'a'",
        ),
        ('[rack.a]\nagents = "g1"\n', r"fleet.toml:2: rack.a.agents: must be a list"),
        (
            '[rack.a]\nagents = ["g1"]\ntoken = "t"\ntoken_file = "f"\n',
            r"fleet.toml:3: rack.a.token: .*not both",
        ),
        ('token_file = "missing.token"\n', r"fleet.toml:1: token_file: cannot read token file"),
        ('ca_cert = "missing.pem"\n', r"fleet.toml:1: ca_cert: CA certificate .* does not exist"),
        (
            '[rack.a]\nagents = ["g1"]\ntoken = "x"\n[job.j]\nagents = ["g1"]\ntoken = "y"\n',
            r"different tokens",
        ),
        ("rack = 3\n", r"fleet.toml:1: rack: use \[rack.<name>\] tables"),
        ('token = ""\n', r"token: must be a non-empty string"),
    ],
)
def test_bad_files_name_file_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(FleetFileError, match=where):
        load_fleet_file(_write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FleetFileError, match="cannot read fleet file"):
        load_fleet_file(tmp_path / "nope.toml")
