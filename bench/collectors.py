"""Collector cost per tick for 8 cards: nvml over the fake pynvml, ascend parsing npu-smi captures, sysfs trees.

nvml: `NvmlCollector` over tests/collectors/nvml_fake.py with the 8 x H100 fixture (the fake's Python
answers stand in for driver calls). ascend: `AscendCollector` whose `run=` returns the 8-chip Atlas 800
9010 captures, so the npu-smi processes themselves are excluded; every 10th read also asks ecc and
health (the slow read), timed apart. sysfs: the amdgpu fixture tree with its card cloned to 8 PCI
functions, and the TH1520 SoC tree (one card) for comparison. Each tick is timed in this process's
CPU time, which a busy shared machine barely changes (wall time would count waits for a core).

Run: python bench/collectors.py [--runs 200] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, cpu_ms, emit, figure

from cardwatch.collectors.ascend import AscendCollector
from cardwatch.collectors.nvml import NvmlCollector
from cardwatch.collectors.sysfs import SysfsCollector
from cardwatch.model import CardSample, CardState

TESTS = Path(__file__).resolve().parent.parent / "tests"
ASCEND = TESTS / "fixtures" / "ascend"
SYSFS = TESTS / "fixtures" / "sysfs"
CARDS = 8
TARGET = "< 2 ms per tick for 8 cards"
NPU_SMI = {
    "table": "gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1.txt",
    "-m": "gpustack.ai-server_atlas-800-training-server_model-9010_version-6.0.RC1_mapping.txt",
    "-t common": "npu-smi_info_-t_common_-i_0.910B.normalized.txt",
    "-t ecc": "npu-smi_info_-t_ecc_-i_0.910A.normalized.txt",
    "-t health": "npu-smi_info_-t_health_-i_0_-c_0.Warning.synthetic.txt",
}
AMD_PARENT = "devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0"
AMD_CARD = "0000:03:00.0"


def fake_nvml() -> ModuleType:
    """The tests' fake pynvml, loaded by path (it lives beside the tests, not in the package)."""
    spec = importlib.util.spec_from_file_location("nvml_fake", TESTS / "collectors" / "nvml_fake.py")
    if spec is None or spec.loader is None:
        raise SystemExit("tests/collectors/nvml_fake.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakeNvml()


def npu_smi_runner() -> Callable[[Sequence[str], float], str]:
    """An npu-smi stand-in that prints the captures (read once, so no file I/O is timed)."""
    texts = {kind: (ASCEND / name).read_text() for kind, name in NPU_SMI.items()}

    def run(argv: Sequence[str], timeout_s: float) -> str:
        return texts[" ".join(argv[2:4]) if len(argv) > 2 else "table"]

    return run


def amdgpu_tree(tmp: Path, cards: int) -> Path:
    """A copy of the amdgpu fixture whose one card is cloned to `cards` PCI functions."""
    root = tmp / "amdgpu"
    shutil.copytree(SYSFS / "amdgpu", root, symlinks=True)
    sysfs = root / "sys"
    for bus in range(4, 3 + cards):
        address = f"0000:{bus:02x}:00.0"
        shutil.copytree(sysfs / AMD_PARENT / AMD_CARD, sysfs / AMD_PARENT / address, symlinks=True)
        os.symlink(f"../../../{AMD_PARENT}/{address}", sysfs / "bus" / "pci" / "devices" / address)
    return sysfs


def checked(read: Callable[[], list[CardSample]], cards: int, what: str) -> Callable[[], list[CardSample]]:
    """`read`, after making sure it gives `cards` readable cards (a broken setup must not time fast)."""
    samples = read()
    bad = [s.key for s in samples if s.state is not CardState.OK]
    if len(samples) != cards or bad:
        raise SystemExit(f"{what}: expected {cards} ok cards, got {len(samples)} (not ok: {bad})")
    return read


def ascend_ticks(runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds of regular and slow (ecc + health) Ascend reads."""
    collector = AscendCollector(node="bench-ascend", run=npu_smi_runner())
    checked(collector.read, CARDS, "ascend")
    regular, slow = [], []
    for done in range(1, runs + 1):
        is_slow = done % collector.SLOW_EVERY_READS == 0
        (slow if is_slow else regular).extend(cpu_ms(collector.read, 1))
    return regular, slow


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs = max(args.runs, AscendCollector.SLOW_EVERY_READS)
    nvml = checked(NvmlCollector(node="bench-nvml", nvml=fake_nvml()).read, CARDS, "nvml")
    regular, slow = ascend_ticks(runs)
    with tempfile.TemporaryDirectory() as tmp:
        amd = checked(SysfsCollector("bench-amd", amdgpu_tree(Path(tmp), CARDS)).read, CARDS, "sysfs amdgpu")
        soc = checked(SysfsCollector("bench-soc", SYSFS / "th1520" / "sys").read, 1, "sysfs th1520")
        amd_ms, soc_ms = cpu_ms(amd, runs), cpu_ms(soc, runs)
    return emit(
        [
            figure("nvml tick, 8 x H100 (fake pynvml)", "ms cpu", cpu_ms(nvml, runs), TARGET),
            figure("ascend tick, 8 chips (npu-smi output parsed)", "ms cpu", regular, TARGET),
            figure("ascend slow tick (+ ecc, health), 8 chips", "ms cpu", slow, TARGET),
            figure("sysfs tick, 8 amdgpu cards (fixture tree)", "ms cpu", amd_ms, TARGET),
            figure("sysfs tick, TH1520 SoC board, 1 card", "ms cpu", soc_ms, "< 2 ms"),
        ]
    )


if __name__ == "__main__":
    main()
