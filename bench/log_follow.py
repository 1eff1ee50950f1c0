"""Log follow throughput: cockpit's whole path against a bare Textual `Log`.

cockpit's path, all real: a local run (`bench/support/flood.py`) writes LINES lines (~100 bytes,
half JSON metric lines) to its train.log as fast as it can; a `cockpit supervise` process tails
it into the mirror, parses the metrics and commits them; `cockpit watch`'s app (headless, in this
process, 160x48) tails the mirror into its log pane. Timed from the moment the trainer is let go
until the pane holds the last line and the store's parsed offset covers every byte (committed
with the samples in one transaction; the sample count is checked afterwards).

Baseline, in the same run: the same lines fed in 1000-line batches straight into a bare Textual
`Log` (the pane's cap, 5000 lines), yielding to the event loop between batches, until the last
line is in the widget: the widget's own ceiling. Target (issue 7): cockpit >= 0.6 x baseline.

Usage: python bench/log_follow.py [LINES [ROUNDS]]   (default 1,000,000 lines, 5 rounds:
       medians compared)
       python bench/log_follow.py --cockpit-only LINES   (one JSON line: used by memory.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult
from textual.widgets import Log

from bench.support.app import watching
from bench.support.harness import FloodProject
from bench.support.lines import expected_samples, line
from cockpit.store.reader import StoreReader
from tests.readings import metric_count
from widgets.log_pane import MAX_LINES, LogPane


def rss_kib(pid: int | str = "self") -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def cockpit_follow(root: Path, count: int) -> dict[str, float]:
    project = FloodProject(root / "proj", count)
    run_id = project.launch()
    total_bytes = sum(len(line(i)) + 1 for i in range(count))
    last = line(count - 1)
    try:
        async with watching(project) as (_app, screen):
            log = screen.query_one(LogPane).log_for("train")
            reader = StoreReader(project.paths.db, read_only=True)
            started = time.perf_counter()
            project.start_flood()
            pane_done = store_done = 0.0
            while not (pane_done and store_done):
                await asyncio.sleep(0.005)
                now = time.perf_counter() - started
                if not pane_done and log.line_count and str(log.lines[-1]) == last:
                    pane_done = now
                if not store_done and reader.parsed_offset(run_id, "train") == total_bytes:
                    store_done = now
            samples = metric_count(reader, run_id)
            assert samples == expected_samples(count), (samples, expected_samples(count))
            await asyncio.sleep(float(os.environ.get("SETTLE", "0")))
            memory = rss_kib()
            supervisor = rss_kib(project.supervisor.pid) if project.supervisor else {}
            reader.close()
    finally:
        project.close()
    return {
        "lines": count,
        "seconds": max(pane_done, store_done),
        "pane_seconds": pane_done,
        "store_seconds": store_done,
        "app_rss_kib": memory["VmRSS"],
        "app_peak_kib": memory["VmHWM"],
        "supervisor_rss_kib": supervisor.get("VmRSS", 0),
        "supervisor_peak_kib": supervisor.get("VmHWM", 0),
    }


class BareLog(App[None]):
    def compose(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, highlight=False)


async def bare_log(count: int) -> float:
    lines = [line(i) for i in range(count)]
    app = BareLog()
    async with app.run_test(headless=True, size=(160, 48)):
        log = app.query_one(Log)
        started = time.perf_counter()
        for start in range(0, count, 1000):
            log.write_lines(lines[start : start + 1000])
            await asyncio.sleep(0)
        assert str(log.lines[-1]) == lines[-1]
        return time.perf_counter() - started


def main() -> None:
    if sys.argv[1:2] == ["--cockpit-only"]:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(asyncio.run(cockpit_follow(Path(folder), int(sys.argv[2])))))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    size = sum(len(line(i)) + 1 for i in range(count))
    print(f"lines: {count:,} ({size / 1e6:.0f} MB, half JSON metric lines), {rounds} rounds")
    baselines, ours = [], []
    for round_no in range(1, rounds + 1):  # interleaved: a noisy minute hits both
        baselines.append(asyncio.run(bare_log(count)))
        with tempfile.TemporaryDirectory() as folder:
            result = asyncio.run(cockpit_follow(Path(folder), count))
        ours.append(result["seconds"])
        print(
            f"  round {round_no}: bare Log {count / baselines[-1]:10,.0f} lines/s   cockpit "
            f"{count / result['seconds']:10,.0f} lines/s (pane {result['pane_seconds']:.2f} s, "
            f"store {result['store_seconds']:.2f} s)"
        )
    baseline, cockpit = statistics.median(baselines), statistics.median(ours)
    print(f"baseline bare Log, 1000-line batches (median): {count / baseline:10,.0f} lines/s")
    print(f"cockpit trainer -> supervisor -> store + pane: {count / cockpit:10,.0f} lines/s")
    ratio = baseline / cockpit
    verdict = "ok" if ratio >= 0.6 else "MISSED (target >= 0.6)"
    print(f"ratio (cockpit / baseline): {ratio:.2f}  {verdict}")


if __name__ == "__main__":
    main()
