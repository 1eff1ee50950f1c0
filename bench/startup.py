"""Start-up of the commands scripts and tmux call often, on a store of 1000 runs.

Baseline, measured in the same run: `python -c "import sqlite3, json"` (the floor of any Python
tool that reads the store). Target (issue 7): each command <= 2x the baseline. Prints the
median of N runs of each. Usage: python bench/startup.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cockpit.runtime import ProjectPaths
from cockpit.showcase import NOW, record
from cockpit.store import Store


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


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 15
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


if __name__ == "__main__":
    main()
