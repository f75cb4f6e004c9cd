"""The overview header: how much of the fleet is live, cards by level, compute delivered, hottest card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual.widgets import Static

from cardwatch.fleet import AgentLink, AgentStatus, FleetHeader
from cardwatch.health import Level
from cardwatch.heat import node_label
from cardwatch.tui.levels import LEVEL_CLASSES, LEVEL_MARKS, ago, clock_text

MAX_NAMED: Final = 3
"""Agents named on the third line; the events log (l) has all of them."""


class FleetBar(Static):
    """Three lines the on-call engineer reads first: counts, extremes, and every agent that is not live."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *LEVEL_CLASSES,
        "fleet-bar--key",
        "fleet-bar--paused",
        "fleet-bar--trouble",
    }
    DEFAULT_CSS = """
    FleetBar { height: auto; }
    """

    def show(
        self, header: FleetHeader, agents: Sequence[AgentLink], now: float, view: str, *, paused: bool
    ) -> None:
        """Render the header; `view` names the metric, sort and filter in force."""
        key = self.get_component_rich_style("fleet-bar--key")
        text = Text.assemble(
            ("nodes ", key),
            f"{header.nodes_live}/{header.nodes_total} live   ",
            ("cards ", key),
            f"{header.cards.cards}  ",
        )
        for level in sorted(Level, reverse=True):
            count = header.cards.by_level.get(level, 0)
            style = self.get_component_rich_style(f"level--{level.name.lower()}") if count else key
            text.append(f" {count} {LEVEL_MARKS[level]} ", style)
        text.append("   compute ", key)
        text.append(_compute(header))
        text.append("\n")
        text.append("hottest ", key)
        text.append(_hottest(header))
        text.append("   newest data ", key)
        age = None if header.newest_ts is None else now - header.newest_ts
        text.append(f"{clock_text(header.newest_ts)} ({ago(age)} ago)   " if age is not None else "-   ")
        text.append(view)
        if paused:
            text.append("   ⏸ PAUSED (p resumes)", self.get_component_rich_style("fleet-bar--paused"))
        text.append("\n")
        text.append_text(self._agents_line([a for a in agents if a.state.status is not AgentStatus.LIVE]))
        self.update(text)

    def _agents_line(self, troubled: Sequence[AgentLink]) -> Text:
        """How many agents are in each bad state, then the first few of them with the reason."""
        key = self.get_component_rich_style("fleet-bar--key")
        if not troubled:
            return Text("all agents live", key)
        counts = Counter(a.state.status.value for a in troubled)
        text = Text.assemble(
            ("agents ", key), ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        )
        for link in troubled[:MAX_NAMED]:
            name = link.node or node_label(link.spec.url)
            why = f" ({link.state.reason})" if link.state.reason else ""
            text.append(
                f"   {name} {link.state.status.value}{why}",
                self.get_component_rich_style("fleet-bar--trouble"),
            )
        return text


def _compute(header: FleetHeader) -> str:
    cards = header.cards
    if cards.effective_pct is None:
        return "- (no card with a known estimate)"
    return f"{cards.effective_pct:.1f} % (estimate known for {cards.known} of {cards.cards} cards)"


def _hottest(header: FleetHeader) -> str:
    card = header.hottest
    if card is None or card.sample.temp_c is None:
        return "-"
    return f"{card.key} {card.sample.temp_c:.0f} °C"
