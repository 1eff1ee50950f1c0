"""Supervisor idle cost: a real `cockpit supervise` watching quiet local runs (they print
nothing and never end), CPU time as a share of one core. Targets (issue 13): one quiet run
<= 0.5%, 50 quiet runs <= 3%.

Baseline, in the same run: `bench/support/bare_supervisor.py`, an asyncio process that does
only what any supervisor must do each poll (write its heartbeat to SQLite), for as long.

Usage: python bench/supervisor_idle.py [SECONDS] [RUNS ...]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.harness import wait_for
from bench.support.terminal import cpu_seconds
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock

HERE = Path(__file__).resolve().parent


def share(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    started = time.perf_counter()
    time.sleep(seconds)  # the measurement window itself
    return (cpu_seconds(pid) - before) / (time.perf_counter() - started)


def project_with(root: Path, runs: int) -> Path:
    root.mkdir(parents=True)
    rows = "\n".join(f"- [ ] H{i}: stays quiet" for i in range(1, runs + 1))
    (root / "hypotheses.md").write_text(
        f"# bench — quiet runs\n\nState: in_progress\n\n## Hypotheses\n{rows}\n\n"
        "## Skip list\n- smoke test を skip\n",
        encoding="utf-8",
    )
    (root / "cockpit.toml").write_text(
        'command = "sleep 100000"\n'
        "success_markers = []\n"
        f"max_parallel = {runs}\n"
        "[backends.local]\n"
        'kind = "local"\n'
        f"slots = {runs}\n"  # this machine has no GPU: one slot per run, none queued
        "cost_per_hour = 2.0\n"
        "[supervisor]\n"
        "idle_exit_seconds = 600\n",
        encoding="utf-8",
    )
    return root


@contextlib.contextmanager
def supervised(root: Path) -> Iterator[tuple[subprocess.Popen[bytes], StoreReader]]:
    """A real `cockpit supervise` on the project at `root` and a client of its store; the
    process is terminated on the way out (the runs keep going: stop them first)."""
    paths = ProjectPaths(root)
    command = [sys.executable, "-m", "cockpit", "supervise", "--project", str(root)]
    supervisor = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for(SupervisorLock(paths.lock).is_held_elsewhere, what="the supervisor")
        client = StoreReader(paths.db)
        try:
            yield supervisor, client
        finally:
            client.close()
    finally:
        supervisor.terminate()
        supervisor.wait(30)


def supervisor_idle(seconds: float, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = project_with(Path(folder) / "proj", runs)
        with supervised(root) as (supervisor, client):
            for i in range(1, runs + 1):
                client.submit_request(LaunchRequest(f"H{i}"), "bench")
            wait_for(
                lambda: sum(r.state == "running" for r in client.runs()) == runs,
                what="every run running",
            )
            time.sleep(3)  # settle: first polls, pumps reaching the ends of the logs
            measured = share(supervisor.pid, seconds)
            for run in client.active_runs():
                client.submit_request(StopRequest(run.id), "bench")
            wait_for(lambda: not client.active_runs(), what="the runs to stop")
    return measured


def bare_idle(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bare = subprocess.Popen(
            [sys.executable, str(HERE / "support" / "bare_supervisor.py"), folder],
            stdout=subprocess.PIPE,
        )
        try:
            assert bare.stdout is not None
            bare.stdout.readline()  # "ready"
            time.sleep(1)
            return share(bare.pid, seconds)
        finally:
            bare.terminate()
            bare.wait(10)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    counts = [int(n) for n in sys.argv[2:]] or [1, 50]
    targets = {1: 0.005, 50: 0.03}
    baseline = bare_idle(seconds)
    print(f"supervisor idle for {seconds:.0f} s:")
    print(f"  baseline (asyncio + 1 heartbeat write a second): {baseline * 100:5.2f}% of a core")
    for runs in counts:
        ours = supervisor_idle(seconds, runs)
        target = targets.get(runs)
        verdict = "" if target is None else ("ok" if ours <= target else "MISSED")
        limit = f"(target <= {target * 100:g}%) {verdict}" if target is not None else ""
        versus = f"{ours / baseline:.1f}x baseline" if baseline else "baseline used no tick"
        print(f"  {runs:>3} quiet run(s): {ours * 100:5.2f}% of a core, {versus} {limit}")


if __name__ == "__main__":
    main()
