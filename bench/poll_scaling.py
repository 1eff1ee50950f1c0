"""Poll scaling of the RunPod backend: 1, 10, 100 and 500 pods on the loopback fake of RunPod's
GraphQL API (`tests/fake_runpod.py`, the real request and response shapes).

Each poll is `RunPodBackend.observe(handles)` for every pod: the requests it sends (target: 1,
whatever the number of pods) and its own CPU time (`time.thread_time()` of the event loop's
thread: the fake server's thread is not counted), median of 15 polls. The pods are starting
(`runtime: null`), so no pod needs its SSH check: what scales here is cockpit's side of the
API. Baseline, in the same run: the 1-pod poll. Target (issue 7): no worse than linear, read
here as each size's CPU <= 1.25 x (the previous size's CPU x the ratio of sizes).

Second table: running pods, each answering its status over its own SSH connection (to the
in-process asyncssh test server, `tests/sshserver.py`, which runs each command in a shell):
wall time per poll at 1, 10 and 50 pods. No target in the issue; it shows the SSH checks
overlapping (16 at a time) instead of queueing.

Third table (issue 19): the Slurm backend on a real single-node cluster (tests/slurm_cluster.py,
when Slurm is installed) behind OpenSSH's sshd: `squeue` calls per poll (counted by a shim
first in PATH on the login node; target: 1) and wall time per poll, with 1 and 200 held jobs.

Usage: python bench/poll_scaling.py [POLLS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import RunHandle, RunPhase
from backends.runpod import RunPodBackend
from backends.runpod_api import RunPodApi
from tests.fake_runpod import KEY, FakeRunPod

SIZES = (1, 10, 100, 500)


async def poll_cost(
    fake: FakeRunPod, url: str, root: Path, pods: int, polls: int
) -> tuple[float, float, float]:
    """(median CPU s, median wall s, requests) per poll with `pods` pods."""
    with fake.lock:
        fake.pods.clear()
    api = RunPodApi(KEY, base_url=url)
    backend = RunPodBackend("pod", api, {}, root / "no-key", root)
    handles = [
        RunHandle(f"r{i}", "pod", f"/ws/r{i}", {"pod_id": fake.add_orphan(f"r{i}")})
        for i in range(pods)
    ]
    cpu, wall = [], []
    await backend.observe(handles)  # warm: the connection is open, the code paths are hot
    before = api.requests
    for _ in range(polls):
        started_cpu, started = time.thread_time(), time.perf_counter()
        observed = await backend.observe(handles)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        assert len(observed) == pods
        assert {obs.phase for obs in observed.values()} == {RunPhase.SETUP}
    requests = (api.requests - before) / polls
    await backend.close()
    return statistics.median(cpu), statistics.median(wall), requests


async def measure(polls: int) -> list[tuple[int, float, float, float]]:
    fake = FakeRunPod(ssh_port=22, starting_polls=10**9)
    url = fake.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            return [(n, *await poll_cost(fake, url, Path(folder), n, polls)) for n in SIZES]
    finally:
        fake.stop()


async def running_pods(
    sizes: tuple[int, ...] = (1, 10, 50), polls: int = 5
) -> list[tuple[int, float]]:
    """Median wall seconds per poll of `n` running pods, each checked over its SSH."""
    import getpass

    from tests.sshserver import SshTestServer

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = SshTestServer(root / "pod")
        await server.start()
        fake = FakeRunPod(ssh_port=server.port, starting_polls=0)
        url = fake.start()
        host_key = server.host_key.export_public_key().decode().strip()
        try:
            for pods in sizes:
                with fake.lock:
                    fake.pods.clear()
                backend = RunPodBackend(
                    "pod", RunPodApi(KEY, base_url=url), {}, server.key_file, root,
                    workdir=str(root / "ws"), ssh_user=getpass.getuser(),
                )  # fmt: skip
                handles = []
                for i in range(pods):
                    data = {"pod_id": fake.add_orphan(f"r{i}"), "ip": "127.0.0.1"}
                    data.update(port=server.port, host_key=host_key, started_at=time.time())
                    handles.append(RunHandle(f"r{i}", "pod", f"{root}/ws/.cockpit/r{i}", data))
                await backend.observe(handles)  # warm: every pod's connection is open
                walls = []
                for _ in range(polls):
                    started = time.perf_counter()
                    await backend.observe(handles)
                    walls.append(time.perf_counter() - started)
                rows.append((pods, statistics.median(walls)))
                await backend.close()
        finally:
            fake.stop()
            await server.kill()
    return rows


async def slurm_polls(polls: int) -> list[tuple[int, float, float]]:
    """(jobs, squeue calls per poll, wall seconds per poll) for 1 and 200 held jobs."""
    import getpass
    import os

    from cockpit.core.backend_factory import make_backend
    from cockpit.core.config import load_config
    from cockpit.core.paths import ProjectPaths
    from tests.slurm_cluster import Cluster, squeue_counter
    from tests.test_slurm import cluster_project
    from tests.test_sshd import Sshd

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cluster, login = Cluster(root / "cluster"), Sshd(root / "sshd")
        shim = squeue_counter(root / "shim")
        try:
            project = cluster_project(cluster, login, root)
            toml = project / "cockpit.toml"
            extra = f'PATH = "{shim}:{os.environ["PATH"]}"'
            toml.write_text(toml.read_text().replace("env = { ", f"env = {{ {extra}, "))
            backend = make_backend("hpc", load_config(project), ProjectPaths(project))
            ids = cluster.held_jobs(200)
            handles = [
                RunHandle(f"bulk{i}", "hpc", str(root / f"r{i}"), {"job_id": job})
                for i, job in enumerate(ids, 1)
            ]
            for count in (1, 200):
                calls = shim / "calls"
                await backend.observe(handles[:count])  # connected, warm
                calls.unlink(missing_ok=True)
                started = time.perf_counter()
                for _ in range(polls):
                    await backend.observe(handles[:count])
                wall = (time.perf_counter() - started) / polls
                rows.append((count, calls.read_text().count("x") / polls, wall))
            await backend.close()
        finally:
            cluster.run("scancel", "--user", getpass.getuser())
            cluster.stop()
            login.stop()
    return rows


def main() -> None:
    polls = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    rows = asyncio.run(measure(polls))
    base_cpu = rows[0][1]
    header = ("pods", "requests/poll", "CPU ms/poll", "x 1 pod", "us/pod", "wall ms")
    widths = (5, 14, 12, 8, 8, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))
    linear = True
    for index, (pods, cpu, wall, requests) in enumerate(rows):
        print(
            f"{pods:>5} {requests:>14.2f} {cpu * 1000:>12.2f} {cpu / base_cpu:>8.1f} "
            f"{cpu / pods * 1e6:>8.1f} {wall * 1000:>8.1f}"
        )
        if index:
            previous_pods, previous_cpu = rows[index - 1][0], rows[index - 1][1]
            linear &= cpu <= 1.25 * previous_cpu * pods / previous_pods
    one_request = all(requests == 1 for _, _, _, requests in rows)
    print(f"one request per poll: {'ok' if one_request else 'MISSED'}; "
          f"CPU no worse than linear: {'ok' if linear else 'MISSED'}")  # fmt: skip
    print(f"{'running pods':>12} {'wall ms/poll':>13} {'ms/pod':>8}")
    for pods, wall in asyncio.run(running_pods()):
        print(f"{pods:>12} {wall * 1000:>13.1f} {wall / pods * 1000:>8.1f}")
    from tests.slurm_cluster import missing

    if missing():
        print(f"slurm: not installed ({', '.join(missing())}): ./dev.sh test installs it")
        return
    print(f"{'slurm jobs':>12} {'squeue/poll':>12} {'wall ms/poll':>13}")
    rows_slurm = asyncio.run(slurm_polls(min(polls, 10)))
    for jobs, calls, wall in rows_slurm:
        print(f"{jobs:>12} {calls:>12.2f} {wall * 1000:>13.1f}")
    one = all(calls == 1 for _, calls, _ in rows_slurm)
    print(f"one squeue per poll: {'ok' if one else 'MISSED'}")


if __name__ == "__main__":
    main()
