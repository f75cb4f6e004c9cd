"""The fleet model and client are headless: importing them loads neither Textual nor the TUI."""

from __future__ import annotations

import subprocess
import sys


def test_fleet_modules_import_no_textual_and_no_tui() -> None:
    code = (
        "import sys\n"
        "import cardwatch.client, cardwatch.fleet, cardwatch.fleetfile, cardwatch.frames, cardwatch.events\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(out.stdout.split())
    assert "cardwatch.fleet" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "textual" or m.startswith("cardwatch.tui")}
