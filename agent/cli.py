"""`cardwatch agent`: serve this node's cards; `cardwatch agent install`: set it up under systemd."""

from __future__ import annotations

import inspect
import logging
import shutil
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cardwatch.agent import config as agent_config
from cardwatch.agent import systemd
from cardwatch.collectors import Collector, CollectorUnavailable, default_node, detect, load

log = logging.getLogger("cardwatch.agent")


@click.group("agent", invoke_without_command=True)
@click.option("--listen", help="HOST:PORT to serve on  [default: 127.0.0.1:9464]")
@click.option("--interval", type=float, help="Seconds between samples  [default: 1]")
@click.option(
    "--collector", "collectors", multiple=True, help="Collector to run (repeatable)  [default: auto]"
)
@click.option("--node", help="Node name reported to the fleet  [default: host name]")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help=f"TOML settings file  [default: {agent_config.DEFAULT_CONFIG_PATH} if present]",
)
@click.option("--token-file", type=click.Path(path_type=Path), help="Bearer token file (chmod 600)")
@click.option("--tls-cert", type=click.Path(path_type=Path), help="TLS certificate (PEM)")
@click.option("--tls-key", type=click.Path(path_type=Path), help="TLS private key (PEM)")
@click.option("--db", type=click.Path(path_type=Path), help="SQLite history file  [default: no history]")
@click.option("--retention", help="How long history is kept: 30s, 15m, 12h, 7d, 2w  [default: 7d]")
@click.option("--insecure", is_flag=True, default=None, help="Allow a non-loopback address without a token")
@click.pass_context
def agent(ctx: click.Context, config_path: Path | None, **options: Any) -> None:
    """Serve this node's cards: stream, snapshot, history and Prometheus metrics over HTTP.

    \b
    Examples:
      cardwatch agent --collector sim                      # simulated 8-card node on 127.0.0.1:9464
      cardwatch agent --db /var/lib/cardwatch/history.db   # every vendor found, with local history
      cardwatch agent --listen 0.0.0.0:9464 --token-file /etc/cardwatch/token --tls-cert c.pem --tls-key k.pem

    Settings also come from --config (default /etc/cardwatch/agent.toml); the command line wins.
    Endpoints: /v1/info /v1/snapshot /v1/stream /v1/history /metrics /healthz.
    """
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = agent_config.build(_file_values(config_path), options)
        serve(settings)
    except (ValueError, CollectorUnavailable, KeyError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None


def _file_values(path: Path | None) -> dict[str, Any]:
    if path is not None:
        return agent_config.load_file(path)
    if agent_config.DEFAULT_CONFIG_PATH.exists():
        return agent_config.load_file(agent_config.DEFAULT_CONFIG_PATH)
    return {}


def serve(settings: agent_config.AgentConfig) -> None:
    """Build the app exactly as tests do and run it until SIGINT/SIGTERM."""
    from aiohttp import web

    from cardwatch.agent.app import create_app
    from cardwatch.agent.security import check_exposure, read_token_file, tls_context
    from cardwatch.store import SampleStore

    token = read_token_file(settings.token_file) if settings.token_file else None
    check_exposure(settings.host, token, settings.insecure)
    ssl_context = (
        tls_context(settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key else None
    )
    node = settings.node or default_node()
    collectors = build_collectors(settings.collectors, node)
    try:
        store = SampleStore(settings.db) if settings.db else None
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open history database {settings.db}: {exc}") from None
    app = create_app(
        collectors,
        interval_s=settings.interval_s,
        node=node,
        token=token,
        store=store,
        retention_s=settings.retention_s,
    )
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            ssl_context=ssl_context,
            print=_on_started,
            access_log=None,
        )
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None


def build_collectors(names: Sequence[str], node: str) -> list[Collector]:
    """Instantiate the named collectors (``auto``: every vendor found on this node)."""
    wanted: list[str] = []
    for name in names:
        wanted.extend(detect() if name == "auto" else [name])
    if not wanted:
        raise CollectorUnavailable("no accelerators found on this node (try --collector sim)")
    collectors = []
    for name in dict.fromkeys(wanted):
        cls = load(name)
        accepts_node = "node" in inspect.signature(cls).parameters
        collectors.append(cls(node=node) if accepts_node else cls())
    return collectors


def _on_started(message: str) -> None:
    """Called by aiohttp once every socket listens: log it and tell systemd we are ready."""
    log.info(message.strip().splitlines()[0].strip("= "))
    systemd.notify("READY=1")


@agent.command("install")
@click.option("--dry-run", is_flag=True, help="Print what would be written, write nothing")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Install under this directory (packaging)",
)
def install(dry_run: bool, root: Path) -> None:
    """Write the systemd unit, sysusers/tmpfiles snippets and an example agent.toml.

    \b
    Examples:
      cardwatch agent install --dry-run          # print the files, write nothing
      sudo cardwatch agent install               # then enable it as printed
      cardwatch agent install --root pkgroot/    # stage the files for a package
    """
    cardwatch_bin = shutil.which("cardwatch") or str(Path(sys.argv[0]).resolve())
    steps = systemd.install_plan(root, cardwatch_bin)
    if dry_run:
        for step in steps:
            click.echo(f"# {step.path}{' (kept if present)' if step.keep_existing else ''}\n{step.text}")
        return
    try:
        for line in systemd.install(steps):
            click.echo(line)
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename}: {exc.strerror} (run as root?)") from None
    click.echo(
        "next: systemd-sysusers && systemd-tmpfiles --create && systemctl daemon-reload"
        " && systemctl enable --now cardwatch-agent"
    )
