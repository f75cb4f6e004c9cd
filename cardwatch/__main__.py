"""`python -m cardwatch` runs the CLI."""

from cardwatch.cli import cli

cli(prog_name="cardwatch")
