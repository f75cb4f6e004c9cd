"""Data flows one way: headless modules never import Textual (harlequin's guard)."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = [
    "cardwatch.model",
    "cardwatch.wire",
    "cardwatch.cli",
    "cardwatch.collectors",
    "cardwatch.collectors.sim",
    "cardwatch.collectors.nvml",
    "cardwatch.collectors.ascend",
    "cardwatch.collectors.sysfs",
    "cardwatch.agent",
]
OPTIONAL = ["cardwatch.agent.app", "cardwatch.health", "cardwatch.fleet", "cardwatch.store"]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, importlib.util, sys\n"
        f"for m in {modules!r}:\n"
        "    if importlib.util.find_spec(m) is not None:\n"
        "        importlib.import_module(m)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_headless_modules_never_import_textual() -> None:
    loaded = _imported_after(HEADLESS + OPTIONAL)
    assert "cardwatch.collectors.sim" in loaded
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_listing_collectors_imports_no_vendor_library() -> None:
    code = (
        "import sys; from cardwatch import collectors; collectors.available(); print('pynvml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_lower_layers_never_import_higher_ones() -> None:
    code = (
        "import sys, importlib\n"
        "importlib.import_module('cardwatch.collectors.sim')\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('cardwatch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(out.stdout.split())
    assert not loaded & {
        "cardwatch.agent.app",
        "cardwatch.fleet",
        "cardwatch.health",
        "cardwatch.tui",
        "cardwatch.cli",
    }
