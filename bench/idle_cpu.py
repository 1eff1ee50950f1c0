"""Idle cost: `cockpit watch` in a real terminal (tmux, 160x48) on a running run that prints
nothing, for 30 s: CPU time of the watch process as a share of one core. Target (issue 7):
<= 1%.

Baseline, in the same run and the same terminal: `bench/support/bare_app.py`, a bare Textual
app with the same widgets and a 1 Hz timer, idle for as long. The supervisor's CPU in the
same window is reported too (it polls the run and the backend; no target).

Usage: python bench/idle_cpu.py [SECONDS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.harness import FloodProject
from bench.support.terminal import Terminal, cpu_seconds

HERE = Path(__file__).resolve().parent


def idle_share(terminal: Terminal, seconds: float, others: tuple[int, ...] = ()) -> list[float]:
    """CPU share of one core over `seconds` of the terminal's program (and of `others`)."""
    pids = (terminal.pid, *others)
    before = [cpu_seconds(pid) for pid in pids]
    started = time.perf_counter()
    time.sleep(seconds)  # the measurement window itself
    elapsed = time.perf_counter() - started
    return [(cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    bare = Terminal([sys.executable, str(HERE / "support" / "bare_app.py")])
    try:
        bare.wait_screen(lambda s: "READ-ONLY" in s)
        time.sleep(2)  # settle after the first paint
        (baseline,) = idle_share(bare, seconds)
    finally:
        bare.close()
    with tempfile.TemporaryDirectory() as folder:
        project = FloodProject(Path(folder) / "proj", lines=0)
        run_id = project.launch()  # the trainer waits on its FIFO: running, printing nothing
        watch = Terminal([sys.executable, "-m", "cockpit", "watch", "--project", str(project.root)])
        try:
            watch.wait_screen(lambda s: "READ-ONLY" in s and run_id in s)
            time.sleep(2)
            assert project.supervisor is not None
            ours, supervisor = idle_share(watch, seconds, (project.supervisor.pid,))
        finally:
            watch.close()
            project.close()
    print(f"idle for {seconds:.0f} s in tmux 160x48:")
    print(f"  baseline bare Textual app, same widgets: {baseline * 100:5.2f}% of a core")
    print(f"  cockpit watch on a silent running run:   {ours * 100:5.2f}% of a core")
    print(f"  (its supervisor meanwhile:               {supervisor * 100:5.2f}% of a core)")
    verdict = "ok" if ours <= 0.01 else "MISSED (target <= 1%)"
    # CPU time comes in 10 ms ticks: a short window may see none for the bare app.
    versus = f"{ours / baseline:.1f}x the bare app" if baseline else "the bare app used no tick"
    print(f"cockpit watch: {ours * 100:.2f}% {verdict}; {versus}")


if __name__ == "__main__":
    main()
