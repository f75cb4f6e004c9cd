"""docs/health-rules.md documents every reason code and every Xid exactly as the engine raises them."""

from __future__ import annotations

import re
from pathlib import Path

from test_health_rules import EVENTS, INSTANT, MEASURED

from cardwatch.health_events import ASCEND_HEALTH, XIDS

DOCS = (Path(__file__).parents[2] / "docs" / "health-rules.md").read_text(encoding="utf-8")
REQUIRED_XIDS = {13, 31, 43, 45, 48, 61, 62, 63, 64, 68, 74, 79, 92, 94, 95, 119, 120}


def documented_codes() -> set[str]:
    return set(re.findall(r"^\| `([A-Z]+_[A-Z_<>n]+)` \|", DOCS, flags=re.MULTILINE))


def test_every_tested_code_is_documented() -> None:
    tested = {spec.code for spec in (*MEASURED, *EVENTS, *INSTANT) if not spec.code.startswith("XID_")}
    tested |= {code for code, *_ in ASCEND_HEALTH.values()} | {"STALE_AGENT", "XID_<n>"}
    assert tested - documented_codes() == set()


def test_every_documented_code_is_tested() -> None:
    tested = {spec.code for spec in (*MEASURED, *EVENTS, *INSTANT)} | {
        "STALE_AGENT",
        "XID_<n>",
        "ASCEND_CRITICAL",
    }
    assert documented_codes() - tested == set()


def test_xid_table_covers_the_required_xids_and_matches_the_docs() -> None:
    assert XIDS.keys() >= REQUIRED_XIDS
    for xid, meaning in XIDS.items():
        sticky = "yes" if meaning.sticky else "no"
        row = f"| {xid} | {meaning.name} | {meaning.level.name} | {meaning.action.value} | {sticky} |"
        assert row in DOCS, row
