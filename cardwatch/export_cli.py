"""`cardwatch export` and `cardwatch report`: recorded samples out to files, and per-card time in each level."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cardwatch.timespec import FORMS, TimeParam, check_range

if TYPE_CHECKING:
    from cardwatch.export_source import Selection

_TIME_HELP = f"({FORMS})"


def time_options(command: Any) -> Any:
    """--since and --until, shared by export and report."""
    command = click.option("--until", type=TimeParam(), help=f"Only samples before this time {_TIME_HELP}.")(
        command
    )
    return click.option("--since", type=TimeParam(), help=f"Only samples from this time on {_TIME_HELP}.")(
        command
    )


@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Database to read.")
@click.option("--agent", "agent", metavar="URL", help="Read an agent's local history (/v1/history) instead.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "sqlite", "jsonl"]),
    default="csv",
    show_default=True,
    help="CSV with a header, a standalone SQLite file, or JSON lines in the wire form.",
)
@time_options
@click.option("--node", "node_glob", metavar="GLOB", help="Only nodes matching this glob, e.g. 'gpu0*'.")
@click.option("--card", metavar="ID", help="Only this card: node/index key, UUID, or index (on every node).")
@click.option("--metrics", metavar="LIST", help="Only these metrics, e.g. temp_c,power_w  [default: all]")
@click.option("--out", default="-", show_default=True, help="File to write, or - for standard output.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bearer token for --agent.",
)
def export(
    db_path: Path | None,
    agent: str | None,
    fmt: str,
    since: float | None,
    until: float | None,
    node_glob: str | None,
    card: str | None,
    metrics: str | None,
    out: str,
    force: bool,
    token_file: Path | None,
) -> None:
    """Export recorded samples as CSV, SQLite or JSON lines, streaming (any size, constant memory).

    Rows stream from the database or the agent to a temporary file that is renamed when complete, so an
    interrupted export never leaves a half-written file under the final name. A progress bar shows on
    a terminal.

    \b
    Examples:
      cardwatch export --db fleet.db --since -2h --out last2h.csv
      cardwatch export --db fleet.db --node 'gpu0*' --metrics temp_c,power_w --format sqlite --out hot.db
      cardwatch export --agent gpu001:9464 --format jsonl --since 2026-11-23T18:00Z
    """
    from cardwatch.export_files import parse_metrics, write_export
    from cardwatch.export_source import Selection

    check_range(since, until)
    try:
        chosen = parse_metrics(metrics)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--metrics'") from None
    if (db_path is None) == (agent is None):
        raise click.UsageError("give exactly one of --db PATH or --agent URL")
    if fmt == "sqlite" and out == "-":
        raise click.UsageError("--format sqlite needs --out PATH")
    selection = Selection(since, until, node_glob, card)
    show = _show_progress(out)
    with _errors(db_path):
        samples, total, tables = _source(db_path, agent, token_file, selection, fmt == "sqlite", show)
        with _progress(samples, total, show) as rows:
            target = None if out == "-" else Path(out)
            stdout = click.get_text_stream("stdout")
            count = write_export(rows, target, fmt, metrics=chosen, force=force, tables=tables, stdout=stdout)
    if out != "-":
        click.echo(f"wrote {count} samples to {out}", err=True)


def _source(
    db_path: Path | None,
    agent: str | None,
    token_file: Path | None,
    selection: Selection,
    related: bool,
    count: bool,
) -> tuple[Iterable[Any], int | None, list[tuple[str, Iterator[dict[str, Any]]]]]:
    """The selected samples, their number when `count` (databases only), and related tables when asked."""
    from cardwatch.export_source import agent_samples, count_samples, db_samples, related_rows
    from cardwatch.fleetfile import resolve_agents
    from cardwatch.record_store import open_database

    if db_path is not None:
        db = open_database(db_path)
        total = count_samples(db, selection) if count else None
        return db_samples(db, selection), total, related_rows(db, selection) if related else []
    specs = resolve_agents([agent or ""], token_file=token_file)
    if len(specs) != 1:
        raise click.UsageError("--agent takes one agent (use a host, not a range)")
    return agent_samples(specs[0].url, selection, specs[0].token), None, []


def _show_progress(out: str) -> bool:
    """A bar on a terminal, unless the rows themselves go to that terminal."""
    return sys.stderr.isatty() and not (out == "-" and sys.stdout.isatty())


@contextmanager
def _errors(db_path: Path | None) -> Iterator[None]:
    """Turn every expected failure into one line and exit status 1."""
    from cardwatch.export_source import ExportError
    from cardwatch.fleetfile import FleetFileError
    from cardwatch.record_store import StoreError, describe_error

    try:
        yield
    except (ExportError, StoreError, FleetFileError) as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.Error as exc:
        raise click.ClickException(describe_error(db_path or Path("database"), exc)) from None
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


@contextmanager
def _progress(rows: Iterable[Any], total: int | None, show: bool) -> Iterator[Iterable[Any]]:
    """The rows, counted on a click progress bar on standard error when one should show."""
    if not show:
        yield rows
        return
    with click.progressbar(rows, length=total, label="exporting", file=sys.stderr, show_pos=True) as bar:
        yield _counted(rows, bar)


def _counted(rows: Iterable[Any], bar: Any, step: int = 1000) -> Iterator[Any]:
    """Advance the bar every `step` rows (drawing it per row would cost more than the export)."""
    done = 0
    for row in rows:
        yield row
        done += 1
        if done == step:
            bar.update(done)
            done = 0
    bar.update(done)


@click.command()
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Recorded database.",
)
@time_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
    help="An aligned table, or CSV with durations in seconds.",
)
def report(db_path: Path, since: float | None, until: float | None, fmt: str) -> None:
    """Per card: time spent in each health level and the reasons that cost the most time.

    Answers "which cards throttled during last night's run, and for how long?" from a database that
    `cardwatch record` wrote. Cards are listed worst first (most time failed, then degraded, then watch).

    \b
    Examples:
      cardwatch report --db fleet.db --since -12h
      cardwatch report --db fleet.db --since 2026-11-22T20:00Z --until 2026-11-23T08:00Z --format csv
    """
    from cardwatch.report import card_reports, write_csv, write_table

    check_range(since, until)
    with _errors(db_path):
        from cardwatch.record_store import open_database

        reports = card_reports(open_database(db_path), since, until)
        (write_csv if fmt == "csv" else write_table)(reports, click.get_text_stream("stdout"))
