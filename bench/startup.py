"""Start-up, on a store of 1000 runs.

1. `cockpit runs --json` and `cockpit status --tmux` (scripts and tmux call them often).
   Baseline: `python -c "import sqlite3, json"` (the floor of any Python tool that reads the
   store). Target (issue 7): <= 2x. Median of N runs each.
2. `cockpit watch` in a real terminal (tmux, 160x48), from spawning the command to the first
   screen that shows the newest run. Baseline: `bench/support/bare_app.py`, a bare Textual app
   with the same widgets (widget for widget: 60 against the watch screen's 59), to its first
   screen. Target (issue 15, was 1.5x before pydantic came back): <= 1.8x. Median of N/3 each,
   alternated. The screen is polled every 10 ms, so both figures carry up to 10 ms of slack.

Usage: python bench/startup.py [N]
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.harness import PLAN
from bench.support.terminal import Terminal
from cockpit.core.paths import ProjectPaths
from cockpit.store.writer import Store
from tools.showcase import NOW, record


def seeded(project: Path, runs: int = 1000) -> None:
    store = Store(ProjectPaths(project).db)
    with store.transaction():
        for i in range(runs):
            store.create_run(record(f"h1-{i:06x}", "H1", "succeeded", NOW - 10_000 + i))
    store.close()


def median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def first_paint(command: list[str], shows: str) -> float:
    terminal = Terminal(command)
    try:
        return terminal.wait_screen(lambda screen: shows in screen)
    finally:
        terminal.close()


def watch_start(project: Path, repeat: int) -> None:
    (project / "hypotheses.md").write_text(PLAN, encoding="utf-8")
    python = sys.executable
    bare = [python, str(Path(__file__).with_name("support") / "bare_app.py")]
    watch = [python, "-m", "cockpit", "watch", "--project", str(project)]
    newest = f"h1-{999:06x}"
    bares, watches = [], []
    for _ in range(repeat):  # alternated: a noisy moment hits both
        bares.append(first_paint(bare, "READ-ONLY"))
        watches.append(first_paint(watch, newest))
    base, ours = statistics.median(bares), statistics.median(watches)
    print(f"baseline  bare Textual app, same widgets, first screen {base * 1000:7.1f} ms")
    ratio = ours / base
    verdict = "ok" if ratio <= 1.8 else "MISSED (target <= 1.8x)"
    print(f"cockpit watch on 1000 runs, first screen with them   {ours * 1000:7.1f} ms  "
          f"{ratio:4.2f}x  {verdict}")  # fmt: skip


def as_installed() -> None:
    """Start as an installed cockpit does: from compiled bytecode. pip compiles what it installs,
    but this checkout's own modules are source, and a shell with PYTHONDONTWRITEBYTECODE=1 (this
    workplace sets it) would have every start compile ~150 modules again (~0.5 s, 1.9x)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    root = Path(__file__).resolve().parents[1]
    for package in ("cockpit", "widgets", "backends", "themes", "tools", "bench"):
        compileall.compile_dir(root / package, quiet=1)


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    as_installed()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        seeded(project)
        python = sys.executable
        script = Path(python).parent / "cockpit"  # the console script people and tmux run
        command = [str(script)] if script.exists() else [python, "-m", "cockpit"]
        baseline = median_seconds([python, "-c", "import sqlite3, json"], repeat)
        print(f"baseline  python -c 'import sqlite3, json'   {baseline * 1000:7.1f} ms")
        for name, argv in (
            ("cockpit runs --json", ["runs", "--json"]),
            ("cockpit status --tmux", ["status", "--tmux"]),
        ):
            seconds = median_seconds([*command, *argv, "--project", str(project)], repeat)
            ratio = seconds / baseline
            verdict = "ok" if ratio <= 2.0 else "MISSED (target <= 2x)"
            print(f"{name:<24} on 1000 runs {seconds * 1000:7.1f} ms  {ratio:4.2f}x  {verdict}")
        watch_start(project, max(3, repeat // 3))


if __name__ == "__main__":
    main()
