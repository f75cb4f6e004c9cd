"""Messages widgets post upward; screens decide what a selection means (drill down, show detail)."""

from __future__ import annotations

from textual.message import Message


class NodeSelected(Message):
    """The user chose a node (enter or click on the heat map or a table row)."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node


class CardSelected(Message):
    """The user chose a card, known by its fleet key ``node/index``."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
