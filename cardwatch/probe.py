"""`cardwatch probe`: one read of every card on this node, like nvidia-smi for every vendor at once."""

from __future__ import annotations

import io
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from cardwatch import collectors, display
from cardwatch.collectors import CollectorStatus, CollectorUnavailable
from cardwatch.model import CardSample
from cardwatch.wire import WIRE_VERSION, dumps, sample_to_wire, status_to_wire

EXIT_NO_CARDS = 1

NO_ACCELERATOR = (
    "No accelerator found on this node: no NVIDIA driver (NVML), no npu-smi on PATH, "
    "no AMD, Moore Threads, MetaX, Cambricon, Enflame or T-Head PPU card with its tool, "
    "no accelerator under /sys. To see what cardwatch shows, try the simulator: "
    "cardwatch probe --collector sim"
)


@dataclass
class ProbeResult:
    """The samples read and how each collector fared."""

    samples: list[CardSample] = field(default_factory=list)
    statuses: list[CollectorStatus] = field(default_factory=list)


def run_probe(names: list[str], sysfs_root: Path | None = None) -> ProbeResult:
    """Read each named collector once; a failing collector becomes a status, never an exception."""
    result = ProbeResult()
    for name in names:
        start = time.monotonic()
        try:
            samples = _read_once(name, sysfs_root)
        except CollectorUnavailable as exc:
            result.statuses.append(_status(name, start, 0, str(exc)))
            continue
        result.samples.extend(samples)
        result.statuses.append(_status(name, start, len(samples), None))
    return result


def _read_once(name: str, sysfs_root: Path | None) -> list[CardSample]:
    kwargs = {"sysfs": sysfs_root} if name == "sysfs" and sysfs_root is not None else {}
    collector = collectors.load(name)(**kwargs)
    try:
        return collector.read()
    finally:
        collector.close()


def _status(name: str, start: float, cards: int, error: str | None) -> CollectorStatus:
    now = time.time()
    return CollectorStatus(name, error is None, cards, time.monotonic() - start, now, error, now)


def render_table(samples: list[CardSample]) -> str:
    """The readable one-row-per-card table."""
    from rich.console import Console
    from rich.table import Table, box

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in (
        "node",
        "card",
        "vendor",
        "model",
        "temp",
        "hbm",
        "power/limit",
        "sm clock/max",
        "util",
        "throttle",
        "ecc c/u",
        "link",
        "state",
    ):
        table.add_column(header, no_wrap=header not in ("throttle", "state"))
    for s in samples:
        table.add_row(
            s.node,
            str(s.index),
            s.vendor,
            s.model or display.UNKNOWN,
            display.num(s.temp_c, "C"),
            display.num(s.mem_temp_c, "C"),
            display.pair(s.power_w, s.power_limit_w, "W"),
            display.pair(s.sm_clock_mhz, s.sm_clock_max_mhz, "MHz"),
            display.num(s.util_pct, "%"),
            display.throttle(s),
            display.ecc(s),
            display.link(s),
            display.state(s),
        )
    out = io.StringIO()
    width = shutil.get_terminal_size((200, 40)).columns if sys.stdout.isatty() else 200
    Console(file=out, width=width, color_system=None, highlight=False).print(table)
    return out.getvalue()


@click.command()
@click.option(
    "--collector",
    "-c",
    "names",
    multiple=True,
    default=("auto",),
    show_default=True,
    type=click.Choice(["auto", "nvml", "ascend", "amd", "mthreads", "metax", "cambricon", "enflame", "ppu", "mtml", "sysfs", "sim"]),
    help="Vendor to read; repeat for several. auto reads every vendor present.",
)
@click.option(
    "--sysfs-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read sysfs from DIR instead of /sys (fixture trees, containers).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the samples in the wire form (JSON).")
def probe(names: tuple[str, ...], sysfs_root: Path | None, as_json: bool) -> None:
    """Read every card on this node once and print it.

    \b
    Examples:
      cardwatch probe                     # every vendor present on this node
      cardwatch probe --collector sim     # the simulated 8-card node
      cardwatch probe -c sysfs --sysfs-root /mnt/board/sys --json

    Exit status: 0 when cards were read, 1 when no card could be read (the reason is printed).
    """
    chosen = list(
        dict.fromkeys(n for name in names for n in (collectors.detect() if name == "auto" else [name]))
    )
    if not chosen:
        click.echo(NO_ACCELERATOR, err=True)
        sys.exit(EXIT_NO_CARDS)
    result = run_probe(chosen, sysfs_root)
    for status in result.statuses:
        if status.error:
            click.echo(f"{status.name}: {status.error}", err=True)
    if as_json:
        click.echo(
            dumps(
                {
                    "v": WIRE_VERSION,
                    "cards": [sample_to_wire(s) for s in result.samples],
                    "collectors": [status_to_wire(s) for s in result.statuses],
                }
            )
        )
    elif result.samples:
        click.echo(render_table(result.samples).rstrip())
    if not result.samples:
        if not any(s.error for s in result.statuses):
            click.echo(NO_ACCELERATOR, err=True)
        sys.exit(EXIT_NO_CARDS)
