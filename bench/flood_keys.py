"""Responsiveness under flood: key press to the other log tab on screen, idle and while the run
writes 100,000 lines a second.

A real `cockpit supervise` follows a local run (`bench/support/flood.py`); `cockpit watch`'s app
runs headless in this process. Each press is posted the way the terminal driver posts it; the
time is taken when the app hands the first frame showing the other tab to its driver
(`App._display`; a headless app skips only the final ANSI encoding). 50 presses alternate `1`
and `2` (train / onstart), spaced 20-60 ms apart. The baseline is the same 50 presses on the same
app before the flood starts. Target (issue 7): p99 under flood <= 3 x p99 idle.

Usage: python bench/flood_keys.py [PRESSES] [RATE]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events

from bench.support.app import watching
from bench.support.harness import FloodProject
from bench.support.lines import line
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.main import MainScreen
from widgets.log_pane import LogPane


async def presses(app: CockpitApp, screen: MainScreen, count: int) -> list[float]:
    """Seconds from each key event to the first frame that shows the tab it asked for."""
    pane = screen.query_one(LogPane)
    shown = asyncio.Event()
    wanted: list[str] = []
    display = app._display

    def spy(target, renderable) -> None:  # type: ignore[no-untyped-def]
        display(target, renderable)
        if wanted and renderable is not None and pane.source == wanted[0]:
            shown.set()

    app._display = spy  # type: ignore[method-assign]
    rng = random.Random(1)
    times = []
    try:
        for number in range(count):
            key, source = ("2", "onstart") if number % 2 == 0 else ("1", "train")
            wanted[:] = [source]
            shown.clear()
            started = time.perf_counter()
            app.post_message(events.Key(key, key))
            await asyncio.wait_for(shown.wait(), 10)
            times.append(time.perf_counter() - started)
            wanted.clear()
            await asyncio.sleep(rng.uniform(0.02, 0.06))  # pacing the presses
    finally:
        app._display = display  # type: ignore[method-assign]
    return times


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(root: Path, count: int, rate: float) -> tuple[list[float], list[float], float]:
    project = FloodProject(root / "proj", lines=int(rate * 120), rate=rate)
    project.launch()
    try:
        async with watching(project) as (app, screen):
            idle = await presses(app, screen, count)
            project.start_flood()
            log = screen.query_one(LogPane).log_for("train")
            while log.line_count < 5000:  # the pane is full: the flood reaches it
                await asyncio.sleep(0.01)
            written, started = project.train_log.stat().st_size, time.perf_counter()
            flood = await presses(app, screen, count)
            grown = project.train_log.stat().st_size - written
            assert grown, "the flood ended before the presses did"
            mean_line = sum(len(line(i)) + 1 for i in range(1000)) / 1000
            measured_rate = grown / mean_line / (time.perf_counter() - started)
    finally:
        project.close()
    return idle, flood, measured_rate


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        idle, flood, measured = asyncio.run(measure(Path(folder), count, rate))
    print(f"flood rate asked {rate:,.0f} lines/s, written while pressing {measured:,.0f} lines/s")
    for name, times in (("idle", idle), ("under flood", flood)):
        print(
            f"{name:<26} p50 {p(times, 0.5) * 1000:6.1f} ms  p99 {p(times, 0.99) * 1000:6.1f} ms"
            f"  mean {statistics.mean(times) * 1000:6.1f} ms  ({len(times)} presses)"
        )
    ratio = p(flood, 0.99) / p(idle, 0.99)
    verdict = "ok" if ratio <= 3 else "MISSED (target <= 3x)"
    print(f"p99 flood / p99 idle: {ratio:.2f}x  {verdict}")


if __name__ == "__main__":
    main()
