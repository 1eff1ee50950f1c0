"""Many runs placed on many GPUs (issue 20): 8 hosts of 4 GPUs each (a pool of eight local
backends with `gpus = [0, 1, 2, 3]`), 64 quiet runs launched at once: 32 placed and running,
32 queued. Measured on a real `cockpit supervise`: its CPU share of one core while the 32 run
and the 32 wait; then, on the same store, one poll's latency (a supervisor in this process,
`poll_once` timed, median and worst of N).

Baseline, in the same run: the same 32 quiet runs on one local backend with 32 slots, no
queue and no GPUs (what the supervisor costs without placement).

Usage: python bench/placement.py [SECONDS] [HOSTS] [GPUS_PER_HOST]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.supervisor_idle import share, supervised
from bench.support.harness import wait_for
from cockpit.core.config import load_config
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.supervisor import Supervisor

POLLS = 20


def project(root: Path, hosts: int, gpus: int, placed: bool) -> tuple[Path, int]:
    """A plan of quiet runs: twice the GPUs with placement (half queue), else as many runs as
    GPUs on one backend with that many slots."""
    capacity = hosts * gpus
    runs = 2 * capacity if placed else capacity
    root.mkdir(parents=True)
    rows = "\n".join(f"- [ ] H{i}: stays quiet" for i in range(1, runs + 1))
    (root / "hypotheses.md").write_text(
        f"# bench — placement\n\nState: in_progress\n\n## Hypotheses\n{rows}\n\n"
        "## Skip list\n- smoke test を skip\n",
        encoding="utf-8",
    )
    if placed:
        indices = ", ".join(str(i) for i in range(gpus))
        tables = "".join(
            f'[backends.host{h}]\nkind = "local"\ngpus = [{indices}]\ncost_per_hour = 2.0\n'
            for h in range(1, hosts + 1)
        )
        members = ", ".join(f'"host{h}"' for h in range(1, hosts + 1))
        tables += f'[backends.lab]\nkind = "pool"\npool = [{members}]\n'
        default = "lab"
    else:
        tables = f'[backends.local]\nkind = "local"\nslots = {runs}\ncost_per_hour = 2.0\n'
        default = "local"
    (root / "cockpit.toml").write_text(
        'command = "sleep 100000"\nsuccess_markers = []\n'
        f'max_parallel = {runs}\ndefault_backend = "{default}"\n{tables}'
        "[supervisor]\nidle_exit_seconds = 600\n",
        encoding="utf-8",
    )
    return root, runs


def measure(seconds: float, hosts: int, gpus: int, placed: bool) -> tuple[float, list[float]]:
    """(CPU share of the supervisor process, poll latencies in seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        root, runs = project(Path(folder) / "proj", hosts, gpus, placed)
        with supervised(root) as (supervisor, client):
            for i in range(1, runs + 1):
                client.submit_request(LaunchRequest(f"H{i}"), "bench")
            running = hosts * gpus

            def settled() -> bool:
                states = [run.state for run in client.active_runs()]
                return states.count("running") == running and len(states) == runs

            wait_for(settled, timeout=300, what=f"{running} running, {runs - running} queued")
            time.sleep(3)  # first polls, pumps at the ends of the logs
            cpu = share(supervisor.pid, seconds)
        latencies = asyncio.run(_polls(root))  # the runs kept going: stopped there
    return cpu, latencies


async def _polls(root: Path) -> list[float]:
    """One poll at a time on the same store (the runs kept running without a supervisor),
    then every run stopped."""
    supervisor = Supervisor(root, load_config(root))
    for _ in range(3):  # re-attach: pumps, the hosts' first answers
        await supervisor.poll_once()
    latencies = []
    for _ in range(POLLS):
        started = time.perf_counter()
        await supervisor.poll_once()
        latencies.append(time.perf_counter() - started)
    reader = supervisor.ctx.reader
    for run in reader.active_runs():
        reader.submit_request(StopRequest(run.id), "bench")
    deadline = time.monotonic() + 120
    while reader.active_runs() and time.monotonic() < deadline:
        await supervisor.poll_once()
        await asyncio.sleep(0.05)
    await supervisor.shutdown()
    return latencies


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    hosts = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    gpus = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    capacity = hosts * gpus
    base_cpu, base_polls = measure(seconds, hosts, gpus, placed=False)
    cpu, polls = measure(seconds, hosts, gpus, placed=True)
    print(f"placement: {hosts} hosts x {gpus} GPUs, {seconds:.0f} s windows, {POLLS} polls timed")
    for name, share_, latencies in (
        (f"baseline: {capacity} quiet runs, one backend, {capacity} slots", base_cpu, base_polls),
        (f"placed:   {capacity} running + {capacity} queued on the pool", cpu, polls),
    ):
        print(
            f"  {name}: supervisor {share_ * 100:5.2f}% of a core; one poll median "
            f"{statistics.median(latencies) * 1000:6.1f} ms, worst {max(latencies) * 1000:6.1f} ms"
        )
    ratio = cpu / base_cpu if base_cpu else float("inf")
    print(f"  placement and the queue cost {ratio:.2f}x the baseline's CPU")


if __name__ == "__main__":
    main()
