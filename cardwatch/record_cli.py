"""`cardwatch record`: follow a fleet's streams into a SQLite database until interrupted."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cardwatch.fleetfile import FleetFileError, resolve_agents


@click.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fleet file (TOML) listing agents and their rack/cluster/job groups.",
)
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file to record into (created if missing, appended to if it is a cardwatch database).",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between samples asked of each agent.",
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
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes to share the agents among (one core each; health peer groups are then per worker).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every committed batch.")
def record(
    urls: tuple[str, ...],
    fleet_file: Path | None,
    db_path: Path,
    interval: float,
    token_file: Path | None,
    ca_cert: Path | None,
    workers: int,
    verbose: bool,
) -> None:
    """Record every sample, health change and vendor event of a fleet into SQLite.

    Writes one transaction per second in WAL mode: a killed recorder loses at most that last batch and
    never corrupts the file. Agents that go away are retried with backoff and recorded as down; their
    cards are judged unknown until they come back. Stop with Ctrl-C (the last batch is written).

    \b
    Examples:
      cardwatch record localhost:9464 --db fleet.db
      cardwatch record --fleet fleet.toml --db fleet.db --interval 5
      cardwatch record --fleet big-fleet.toml --db fleet.db --workers 2
    """
    from cardwatch.record_run import LOG_FORMAT, WorkerFailed, run_recorders
    from cardwatch.record_store import RecordStore, StoreError

    try:
        specs = resolve_agents(urls, fleet_file, token_file, ca_cert)
        RecordStore(db_path).db.close()
    except (FleetFileError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    try:
        run_recorders(specs, db_path, interval, workers)
    except (StoreError, WorkerFailed) as exc:
        raise click.ClickException(str(exc)) from None
