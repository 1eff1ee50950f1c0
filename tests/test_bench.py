"""The benchmarks still run: each script once with small sizes. No figure is checked here
(speed is read from `bench/`, never asserted in tests); a benchmark that breaks fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "says"),
    [
        ("log_follow.py", ["3000", "1"], "ratio (cockpit / baseline)"),
        ("flood_keys.py", ["4", "5000"], "p99 flood / p99 idle"),
        ("memory.py", ["1000", "5000"], "app RSS 5,000 / 1,000 lines"),
        ("idle_cpu.py", ["2"], "cockpit watch:"),
        ("startup.py", ["3"], "cockpit watch on 1000 runs"),
        ("poll_scaling.py", ["1"], "one request per poll: ok"),
        ("pump_throughput.py", ["2000"], "ratio (cockpit / baseline)"),
        ("supervisor_idle.py", ["1", "2"], "quiet run(s):"),
        ("jump_to_failure.py", ["4", "1"], "seek to the stored offset"),
        ("log_index.py", ["30000"], "search a line in the middle"),
        ("log_browse.py", ["20000", "--no-toolong"], "Home → first line on screen"),
        ("placement.py", ["1", "2", "2"], "placement and the queue cost"),
    ],
)
def test_the_benchmark_runs(script: str, args: list[str], says: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert says in result.stdout


def test_run_all_runs_every_script() -> None:
    scripts = {path.name for path in BENCH.glob("*.py")}
    tested = {"log_follow.py", "flood_keys.py", "memory.py", "idle_cpu.py", "startup.py"}
    tested |= {"poll_scaling.py", "pump_throughput.py", "supervisor_idle.py"}
    tested |= {"jump_to_failure.py", "log_index.py", "log_browse.py", "placement.py"}
    assert scripts == tested  # a new benchmark gets a smoke run above
