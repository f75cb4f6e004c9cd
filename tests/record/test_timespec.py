"""--since/--until: ISO 8601 and relative times, and clear refusals of anything else."""

from __future__ import annotations

import pytest

from cardwatch.timespec import parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-15T08:00:00Z", NOW),
        ("2027-01-15T08:00:00", NOW),
        ("2027-01-15T09:30:00+01:30", NOW),
        ("2027-01-15T08:00:01.250Z", NOW + 1.25),
        ("2027-01-15", NOW - 8 * 3600),
        ("-2h", NOW - 7200),
        ("2h", NOW - 7200),
        ("30m", NOW - 1800),
        ("90s", NOW - 90),
        ("1.5d", NOW - 1.5 * 86400),
        ("2w", NOW - 2 * 604800),
        ("now", NOW),
    ],
)
def test_accepted_forms(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "", "-2", "2y", "1e9", "2027-13-01", "--2h", "2h ago"])
def test_anything_else_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(text, NOW)
