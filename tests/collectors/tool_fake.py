"""A fake command runner for the CLI collectors: answers argv from fixture text and records the calls."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from cardwatch.model import CardSample
from cardwatch.wire import sample_to_wire

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REFERENCE = Path("/work/shared/reference/captures/more")


def fixture(vendor: str, name: str) -> str:
    return (FIXTURES / vendor / name).read_text(encoding="utf-8")


class FakeTool:
    """Answers ``" ".join(argv)`` from `answers`; an unlisted call exits 2 like a CLI given bad options."""

    def __init__(self, answers: dict[str, str | Exception]) -> None:
        self.answers = dict(answers)
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str], timeout_s: float) -> str:
        command = " ".join(argv)
        self.calls.append(command)
        answer = self.answers.get(command)
        if answer is None:
            raise subprocess.CalledProcessError(
                2, list(argv), output="", stderr=f"unknown option in {command}\n"
            )
        if isinstance(answer, Exception):
            raise answer
        return answer


def wire_without_ts(samples: list[CardSample]) -> list[dict[str, object]]:
    return [{k: v for k, v in sample_to_wire(s).items() if k != "ts"} for s in samples]


def golden(vendor: str, name: str) -> list[dict[str, object]]:
    return json.loads((FIXTURES / vendor / "golden" / f"{name}.json").read_text())


def reference_names(vendor: str) -> list[str]:
    """Fixture files of `vendor` that are copies of a shared reference capture."""
    if not REFERENCE.is_dir():
        return []
    return sorted(p.name for p in (FIXTURES / vendor).iterdir() if (REFERENCE / p.name).is_file())
