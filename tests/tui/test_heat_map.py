"""The heat map's layout: nodes as rows while they fit, packed tighter (never scrolled) when they must."""

from __future__ import annotations

import pytest

from cardwatch.heat import DOWN_SLOT, HeatGroup, HeatNode
from cardwatch.tui.widgets.heat_map import Row, plan


def _fleet(nodes: int, cards: int = 8, racks: int = 1) -> list[HeatGroup]:
    per_rack = nodes // racks
    return [
        HeatGroup(f"rack r{r}", tuple(HeatNode(f"gpu{r}{i:04d}", (0,) * cards) for i in range(per_rack)))
        for r in range(racks)
    ]


def _placed(rows: tuple[Row, ...]) -> list[int]:
    return [i for row in rows if not isinstance(row, str) for i in row[1]]


def test_a_small_fleet_has_one_node_per_row_and_a_cell_per_card() -> None:
    p = plan(_fleet(12, racks=2), width=200, max_lines=30)
    assert p.per_line == 1 and not p.shape.stacked and p.columns == 8
    assert p.rows[0] == "rack r0 (6 nodes)" and p.rows[7] == "rack r1 (6 nodes)"
    assert _placed(p.rows) == list(range(12))


@pytest.mark.parametrize("racks", [1, 10])
def test_ten_thousand_cards_fit_a_200x60_terminal(racks: int) -> None:
    groups = _fleet(1250, racks=racks)
    p = plan(groups, width=200, max_lines=35)
    assert len(p.rows) <= 35
    assert p.shape.stacked and p.per_line * p.columns * p.shape.cell_w <= 200
    assert _placed(p.rows) == list(range(1250))


def test_the_roomiest_shape_that_fits_wins() -> None:
    roomy = plan(_fleet(40), width=200, max_lines=60)
    tight = plan(_fleet(40), width=200, max_lines=10)
    assert roomy.per_line == 1 and tight.per_line > 1
    assert len(tight.rows) <= 10


def test_a_node_without_cards_still_gets_a_cell() -> None:
    groups = [HeatGroup("fleet", (HeatNode("gpu001:9464", (DOWN_SLOT,)), HeatNode("gpu002", (0,) * 8)))]
    p = plan(groups, width=80, max_lines=5)
    assert _placed(p.rows) == [0, 1]
