"""Supervisor ingest throughput: local train.log -> mirror -> metric parse -> store.

Baseline, measured in the same run on the same file: copying the bytes and splitting them into
lines with no parsing and no store (the floor any tailer pays). Prints lines/s for both and the
ratio. Usage: python bench/pump_throughput.py [LINES]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import LogSource, RunHandle
from backends.local import LocalBackend
from cockpit.core.logparse import LineSplitter, MetricParser
from cockpit.store.writer import Store
from cockpit.supervisor.log_pump import LogPump
from tests.readings import metric_count


def make_log(path: Path, lines: int) -> int:
    with open(path, "w") as handle:
        for i in range(lines):
            if i % 2:
                handle.write(json.dumps({"step": i, "loss": 1.0 / (i + 1), "lr": 3e-4}) + "\n")
            else:
                handle.write(f"epoch 0 batch {i}: data loader ok, {'x' * 50}\n")
    return path.stat().st_size


def baseline(path: Path) -> float:
    started = time.perf_counter()
    splitter = LineSplitter()
    count = 0
    with open(path, "rb") as source, open(path.with_suffix(".copy"), "wb") as out:
        while chunk := source.read(1024 * 1024):
            out.write(chunk)
            count += len(splitter.feed(chunk))
    return time.perf_counter() - started


async def cockpit_path(root: Path, lines: int) -> float:
    run_dir = root / "runs" / "r1" / "run"
    run_dir.mkdir(parents=True)
    make_log(run_dir / "train.log", lines)
    (run_dir / "exit_code").write_text("0\n")
    backend = LocalBackend("local", root / "runs")
    handle = RunHandle("r1", "local", str(run_dir), {"pid": 1, "pgid": 1, "started_at": 0})
    store = Store(root / "state.db")
    pump = LogPump(store, backend, handle, LogSource.TRAIN, root / "mirror.log", MetricParser())
    started = time.perf_counter()
    await pump.run()
    elapsed = time.perf_counter() - started
    assert metric_count(store.reader, "r1") == (lines // 2) * 3, metric_count(store.reader, "r1")
    return elapsed


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        size = make_log(root / "base.log", lines)
        base = baseline(root / "base.log")
        ours = asyncio.run(cockpit_path(root, lines))
    print(f"lines: {lines:,} ({size / 1e6:.1f} MB, half JSON metric lines)")
    print(f"baseline copy+split:            {lines / base:12,.0f} lines/s")
    print(f"cockpit tail+mirror+parse+store: {lines / ours:12,.0f} lines/s")
    print(f"ratio (cockpit / baseline):      {base / ours:12.3f}")


if __name__ == "__main__":
    main()
