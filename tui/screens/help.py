"""The `?` screen: every key of the screen below it, and the filter syntax."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cardwatch.view import SYNTAX


class HelpScreen(ModalScreen[None]):
    """Keys and filter syntax; escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.keys), default=0)
        lines = [f"{key.rjust(width)}  {what}" for key, what in self.keys]
        lines += ["", "Mouse: click a node on the heat map, click a list row twice to open it.", ""]
        lines += ["Filter (/):", *(f"  {line}" for line in SYNTAX)]
        with VerticalScroll(id="help-body"):
            yield Static("cardwatch keys", id="help-title")
            yield Static("\n".join(lines), markup=False)
