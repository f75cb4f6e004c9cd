"""Exports from a recorded database: every value and unit survives CSV, SQLite and JSONL; files are atomic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from cardwatch.cli import cli
from cardwatch.export_files import METRICS, csv_header, write_export
from cardwatch.export_source import ExportError, Selection, db_samples
from cardwatch.model import CardSample
from cardwatch.record_store import RecordStore, open_database
from cardwatch.wire import sample_from_wire

from .conftest import T0, read_csv_samples, varied_samples


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[CardSample]]:
    """A recorder database holding `varied_samples()`."""
    samples = varied_samples()
    store = RecordStore(tmp_path / "fleet.db")
    store.add(samples)
    store.flush()
    store.close()
    return tmp_path / "fleet.db", samples


def _export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["export", *args])
    return result.exit_code, result.output


def _without_ts(sample: CardSample) -> CardSample:
    return replace(sample, ts=0.0)


def test_csv_round_trip_keeps_every_value_and_unit(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path
) -> None:
    db, samples = recorded
    code, output = _export("--db", str(db), "--out", str(tmp_path / "all.csv"))
    assert code == 0, output
    back = read_csv_samples(tmp_path / "all.csv")
    assert [_without_ts(s) for s in back] == [_without_ts(s) for s in samples]
    assert all(0 <= s.ts - b.ts < 0.001 for s, b in zip(samples, back, strict=True))
    header = (tmp_path / "all.csv").read_text().splitlines()[0].split(",")
    assert header == csv_header() and {"temp_c", "power_w", "sm_clock_mhz", "mem_used_mib"} <= set(header)
    assert (tmp_path / "all.csv").read_text().splitlines()[1].startswith("2027-01-15T08:00:00.123+00:00,")


def test_sqlite_export_is_a_standalone_cardwatch_database(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path
) -> None:
    db, samples = recorded
    out = tmp_path / "copy.db"
    code, output = _export("--db", str(db), "--format", "sqlite", "--out", str(out))
    assert code == 0, output
    assert list(db_samples(open_database(out), Selection())) == samples
    plain = sqlite_utils.Database(out)
    assert {"samples", "cards", "nodes", "health_events", "events"} <= set(plain.table_names())
    assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert plain.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("copy")] == ["copy.db"]
    shown = subprocess.run(
        [sys.executable, "-m", "sqlite_utils", "rows", str(out), "samples", "--limit", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and json.loads(shown.stdout)[0]["key"] == samples[0].key


def test_jsonl_is_the_wire_form(recorded: tuple[Path, list[CardSample]], tmp_path: Path) -> None:
    db, samples = recorded
    code, output = _export("--db", str(db), "--format", "jsonl", "--out", str(tmp_path / "s.jsonl"))
    assert code == 0, output
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert [sample_from_wire(json.loads(line)) for line in lines] == samples
    code, output = _export(
        "--db", str(db), "--format", "jsonl", "--metrics", "temp_c", "--card", "n-riscv-th1520/2"
    )
    kept = [json.loads(line) for line in output.splitlines()]
    assert len(kept) == 4 and all("temp_c" in k and "power_w" not in k and k["index"] == 2 for k in kept)


def test_selection_by_time_node_card_and_metrics(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path
) -> None:
    db, samples = recorded
    args = ["--db", str(db), "--node", "n-ascend*", "--card", "3", "--since", "2027-01-15T08:00:01.5Z"]
    code, output = _export(*args, "--metrics", "temp_c,power_w")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split(",")[-2:] == ["temp_c", "power_w"] and "mem_used_mib" not in lines[0]
    expected = [s for s in samples if s.node == "n-ascend-910b" and s.index == 3 and s.ts >= T0 + 1.377]
    assert [line.split(",")[1] for line in lines[1:]] == [s.key for s in expected]
    assert len(expected) == 2


def test_sqlite_export_drops_unchosen_metrics(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path
) -> None:
    db, _ = recorded
    out = tmp_path / "two.db"
    code, output = _export(
        "--db", str(db), "--format", "sqlite", "--metrics", "temp_c,power_w", "--out", str(out)
    )
    assert code == 0, output
    columns = set(sqlite_utils.Database(out)["samples"].columns_dict)
    assert {"temp_c", "power_w", "node", "index", "ts"} <= columns
    assert not columns & (set(METRICS) - {"temp_c", "power_w"})


def test_existing_file_is_kept_without_force(recorded: tuple[Path, list[CardSample]], tmp_path: Path) -> None:
    db, _ = recorded
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    code, output = _export("--db", str(db), "--out", str(out))
    assert code == 1 and "--force" in output and out.read_text() == "precious\n"
    code, output = _export("--db", str(db), "--out", str(out), "--force")
    assert code == 0 and out.read_text().startswith("time_utc,")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "sqlite"])
def test_interrupted_export_leaves_no_file_under_the_final_name(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path, fmt: str
) -> None:
    _, samples = recorded
    out = tmp_path / "out" / f"broken.{fmt}"
    out.parent.mkdir()

    def failing() -> Iterator[CardSample]:
        yield from samples[:10]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_export(failing(), out, fmt)
    assert list(out.parent.iterdir()) == []


def test_export_into_a_missing_folder_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot write"):
        write_export(iter([]), tmp_path / "nowhere" / "x.csv", "csv")


def _fill(path: Path, rows: int) -> None:
    """A database with `rows` samples (copies of real ones, made inside SQLite to keep the test fast)."""
    store = RecordStore(path)
    store.add(varied_samples(ticks=1))
    store.flush()
    columns = ", ".join(f"[{c}]" for c in store.db["samples"].columns_dict if c != "id")
    while (have := store.db["samples"].count) < rows:
        store.db.execute(
            f"INSERT INTO samples ({columns}) SELECT {columns} FROM samples LIMIT ?", [rows - have]
        )
        store.db.conn.commit()
    store.close()


def _peak_bytes(db: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        count = write_export(db_samples(open_database(db), Selection()), out, "csv")
        return tracemalloc.get_traced_memory()[1] if count else 0
    finally:
        tracemalloc.stop()


def test_big_export_runs_in_constant_memory(tmp_path: Path) -> None:
    _fill(tmp_path / "small.db", 3_000)
    _fill(tmp_path / "big.db", 30_000)
    small = _peak_bytes(tmp_path / "small.db", tmp_path / "small.csv")
    big = _peak_bytes(tmp_path / "big.db", tmp_path / "big.csv")
    assert len((tmp_path / "big.csv").read_text().splitlines()) == 30_001
    assert big < small + 256 * 1024, f"peak grew from {small} to {big} bytes with 10x the rows"


def test_progress_bar_shows_on_a_terminal_only(
    recorded: tuple[Path, list[CardSample]], tmp_path: Path
) -> None:
    db, samples = recorded
    argv = [sys.executable, "-m", "cardwatch", "export", "--db", str(db), "--out"]
    master, terminal = os.openpty()
    try:
        done = subprocess.run(
            [*argv, str(tmp_path / "a.csv")], stderr=terminal, stdout=subprocess.DEVNULL, timeout=60
        )
        shown = os.read(master, 65536).decode()
    finally:
        os.close(terminal)
        os.close(master)
    assert done.returncode == 0 and "exporting" in shown and f"{len(samples)}/{len(samples)}" in shown
    piped = subprocess.run([*argv, str(tmp_path / "b.csv")], capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "exporting" not in piped.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    _fill(tmp_path / "many.db", 3_000)
    argv = [sys.executable, "-m", "cardwatch", "export", "--db", str(tmp_path / "many.db")]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdout.readline().startswith(b"time_utc,")
        proc.stdout.close()
        assert proc.wait(timeout=60) == 1
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()


def test_a_database_from_before_a_new_sample_field_gets_the_column(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "old.db")
    store.close()
    sqlite_utils.Database(tmp_path / "old.db")["samples"].transform(drop={"fan_pct"})
    store = RecordStore(tmp_path / "old.db")
    store.add(varied_samples(ticks=1))
    assert store.flush() > 0 and "fan_pct" in store.db["samples"].columns_dict
    store.close()
