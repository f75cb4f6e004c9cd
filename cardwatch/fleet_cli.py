"""`cardwatch fleet`: watch every agent of a fleet in the terminal (the TUI is imported only when run)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from cardwatch.fleetfile import AgentSpec, FleetFileError, resolve_agents


def watch(specs: Sequence[AgentSpec], *, interval_s: float = 1.0) -> None:
    """Run the fleet TUI over `specs` until the user quits (also used by `cardwatch demo`)."""
    from cardwatch.client import FleetClient
    from cardwatch.fleet import Fleet
    from cardwatch.health import HealthEngine
    from cardwatch.tui.app import make_app

    fleet = Fleet(specs, engine=HealthEngine(), now=time.time())
    client = FleetClient(fleet, interval_s=interval_s)
    make_app(fleet, client, refresh_s=interval_s).run()


@click.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fleet file (TOML) listing agents and their rack/cluster/job groups.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bearer token for agents the fleet file gives none.",
)
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA certificate to verify https agents the fleet file gives none.",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between screen refreshes, and the rate asked of each agent.",
)
def fleet(
    urls: tuple[str, ...],
    fleet_file: Path | None,
    token_file: Path | None,
    ca_cert: Path | None,
    interval: float,
) -> None:
    """Watch every card of a fleet of agents: heat map, worst-first list, node and card screens.

    URLS are agents as host, host:port or http(s)://host:port (port 9464 by default); host ranges
    expand, e.g. gpu[001-128]:9464.

    \b
    Examples:
      cardwatch fleet localhost:9464
      cardwatch fleet 'gpu[001-128]' --token-file ~/.cardwatch/token
      cardwatch fleet --fleet fleet.toml

    Keys: arrows/enter drill down, escape back, / filter, m metric, s sort, p pause, e export CSV,
    l events, ? help, q quit.
    """
    try:
        specs = resolve_agents(urls, fleet_file, token_file, ca_cert)
    except FleetFileError as exc:
        raise click.ClickException(str(exc)) from None
    watch(specs, interval_s=interval)
