"""One node: its agent's state and every card with temperatures, power, clocks, throttle, ECC and link."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from cardwatch.export import CardRow
from cardwatch.fleet import AgentLink, AgentStatus
from cardwatch.tui.levels import ago, clock_text
from cardwatch.tui.messages import CardSelected
from cardwatch.tui.screens.base import ViewScreen
from cardwatch.tui.screens.card import CardScreen
from cardwatch.tui.widgets.node_table import NodeTable


class NodeScreen(ViewScreen):
    """Every card of one node; enter opens a card, escape goes back."""

    VIEW: ClassVar[str] = "node"

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def compose(self) -> ComposeResult:
        yield Static(id="node-header")
        yield NodeTable(self.node, id="node-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(NodeTable).focus()

    def redraw(self, now: float) -> None:
        fleet = self.fleet_app.fleet
        link = fleet.agent_of_node(self.node)
        self.query_one("#node-header", Static).update(agent_text(self.node, link, now))
        self.query_one(NodeTable).show([(c, fleet.health(c.key)) for c in fleet.node_cards(self.node)])

    def export_rows(self) -> list[CardRow]:
        fleet = self.fleet_app.fleet
        return [(c.sample, fleet.health(c.key)) for c in fleet.node_cards(self.node)]

    @on(CardSelected)
    def open_card(self, message: CardSelected) -> None:
        self.app.push_screen(CardScreen(message.key))


def agent_text(node: str, link: AgentLink | None, now: float) -> Text:
    """The node's agent in two lines: where, its state and why, and how its collectors fare."""
    if link is None:
        return Text(f"{node}: no agent serves this node any more")
    state = link.state
    why = f" ({state.reason})" if state.reason else ""
    stale = "" if state.status is AgentStatus.LIVE else "   values below are the last known"
    collectors = "  ".join(
        f"{c.name} {'ok' if c.ok else 'FAILING: ' + (c.error or '?')} {c.cards} cards"
        for c in link.collectors
    )
    return Text(
        f"{node}   agent {link.spec.url}   {state.status.value}{why} for {ago(now - state.since_ts)}{stale}\n"
        f"version {link.version or '-'}   interval {link.interval_s or '-'} s   "
        f"last data {clock_text(link.data_ts)}   collectors: {collectors or '-'}"
    )
