"""The `cardwatch` command line: a thin click group over the library.

Commands import their heavy parts (Textual, aiohttp servers) inside the command, so `cardwatch --help`
and headless commands stay fast and never load the TUI.
"""

from __future__ import annotations

import click

from cardwatch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="cardwatch")
def cli() -> None:
    """Health and thermals for accelerator fleets of any vendor, in a terminal.

    \b
    Start with the simulated fleet:   cardwatch demo
    Read this node's cards once:      cardwatch probe
    Serve this node's cards:          cardwatch agent
    Watch a fleet of agents:          cardwatch fleet --fleet fleet.toml
    """


from cardwatch.demo import demo  # noqa: E402
from cardwatch.probe import probe  # noqa: E402

cli.add_command(probe)
cli.add_command(demo)

from cardwatch.agent.cli import agent  # noqa: E402

cli.add_command(agent)

from cardwatch.fleet_cli import fleet  # noqa: E402

cli.add_command(fleet)

from cardwatch.record_cli import record  # noqa: E402

cli.add_command(record)

from cardwatch.export_cli import export, report  # noqa: E402

cli.add_command(export)
cli.add_command(report)
