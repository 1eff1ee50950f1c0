"""The Slurm backend against a real single-node Slurm cluster (tests/slurm_cluster.py) whose
login node is OpenSSH's sshd (tests/test_sshd.py): a run is submitted, mirrored byte-exact,
succeeds with its artifacts; a running job is stopped and gone from the queue; a pending job
shows its reason and costs nothing, then runs; a requeued job keeps its log and is not taken
for finished; a job cancelled from outside is `killed`; one `squeue` per poll."""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, RunWarning, StopRequest
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from cockpit.ui.viewmodel import cost_reading
from tests.conftest import async_wait_for, write_project
from tests.fakebackend import supervised
from tests.readings import metric_count
from tests.slurm_cluster import Cluster, missing, squeue_counter
from tests.test_sshd import SSHD, Sshd

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if absent := missing():
        if os.environ.get("CI"):
            pytest.fail(f"Slurm is missing ({', '.join(absent)}): ./dev.sh test installs it")
        pytest.skip(f"Slurm is not installed ({', '.join(absent)})")
    started = Cluster(tmp_path_factory.mktemp("slurm"))
    yield started
    started.stop()


@pytest.fixture
def login(tmp_path: Path) -> Iterator[Sshd]:
    """The cluster's login node: OpenSSH's sshd on this machine."""
    if not os.path.exists(SSHD):
        pytest.skip("openssh-server is not installed")
    server = Sshd(tmp_path / "sshd")
    yield server
    server.stop()


def cluster_project(cluster: Cluster, login: Sshd, tmp_path: Path, extra: str = "") -> Path:
    toml = (
        "[backends.hpc]\n"
        'kind = "slurm"\nhost = "127.0.0.1"\n'
        f'port = {login.port}\nuser = "{getpass.getuser()}"\n'
        f'identity_file = "{login.key_file}"\nknown_hosts = "{login.known_hosts}"\n'
        f'workdir = "{tmp_path / "shared"}"\ngpu_interval_seconds = 1\n'
        "gpus = 0\ncost_per_hour = 7.2\n"
        f'env = {{ SLURM_CONF = "{cluster.conf}" }}\n' + extra
    )
    return write_project(tmp_path / "proj", toml, 'default_backend = "hpc"\n')


def supervising(project: Path) -> contextlib.AbstractAsyncContextManager[
    tuple[Supervisor, StoreReader]
]:  # fmt: skip
    return supervised(Supervisor(project, load_config(project)), project)


async def launched(client: StoreReader, hypothesis: str) -> str:
    request = client.submit_request(LaunchRequest(hypothesis=hypothesis), "test")
    return str(
        await async_wait_for(lambda: (r := client.request(request)) and r.run_id, what="launch")
    )


async def ended(client: StoreReader, run_id: str) -> RunRecord:
    run = await async_wait_for(
        lambda: (r := client.run(run_id)) and not r.active and r, timeout=120, what="the end"
    )
    assert isinstance(run, RunRecord)
    return run


def cockpit_jobs(cluster: Cluster) -> list[str]:
    return [line for line in cluster.run("squeue", "-h", "-o", "%j %T").splitlines()
            if line.startswith("cockpit-")]  # fmt: skip


async def test_a_run_succeeds_and_a_running_job_is_stopped(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    project = cluster_project(cluster, login, tmp_path)
    paths = ProjectPaths(project)
    async with supervising(project) as (supervisor, client):
        run_id = await launched(client, "H1")
        run = await ended(client, run_id)
        assert run.state == "succeeded", run.detail
        assert run.handle is not None and run.handle["data"]["job_id"]
        remote = Path(run.handle["run_dir"])
        assert paths.mirror_log(run_id, "train").read_bytes() == (remote / "train.log").read_bytes()
        assert b'"step": 19' in paths.mirror_log(run_id, "train").read_bytes()
        assert sorted(p.name for p in paths.artifacts(run_id).iterdir()) == [
            "best.pt",
            "metrics.json",
        ]
        assert paths.mirror_log(run_id, "gpu").read_text().startswith("no NVIDIA GPU")

        stopped_id = await launched(client, "H5")
        await async_wait_for(lambda: metric_count(client, stopped_id) > 2, what="H5 running")
        await async_wait_for(  # billed while it runs, at the configured rate
            lambda: (r := client.run(stopped_id)) and r.cost_per_hour == 7.2, what="the rate"
        )
        client.submit_request(StopRequest(run_id=stopped_id), "test")
        stopped = await ended(client, stopped_id)
        assert stopped.state == "stopped", stopped.detail
        assert cockpit_jobs(cluster) == [] or all(" CANCELLED" in j for j in cockpit_jobs(cluster))
        assert await supervisor.backends["hpc"].list_billed() == []


async def test_a_pending_job_says_why_costs_nothing_then_runs(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    project = cluster_project(cluster, login, tmp_path)
    cluster.run("scontrol", "update", f"nodename={cluster.node}", "state=drain", "reason=test")
    try:
        async with supervising(project) as (_, client):
            run_id = await launched(client, "H1")
            run = await async_wait_for(
                lambda: (r := client.run(run_id)) and "pending in the queue" in r.detail and r,
                what="the pending reason",
            )
            assert isinstance(run, RunRecord)
            # (Slurm words a drained node's wait either way, depending on when it looks)
            assert "DRAINED" in run.detail or "ReqNodeNotAvail" in run.detail, run.detail
            assert run.cost_per_hour == 0 and run.cost_so_far == 0
            assert RunWarning.PENDING in run.warnings
            reading = cost_reading(run, time.time())  # what the cost meter shows
            assert reading is not None and reading.pending and reading.cost_so_far == 0
            resumed = time.time()
            cluster.run("scontrol", "update", f"nodename={cluster.node}", "state=resume")
            done = await ended(client, run_id)
            # Its time counts from the job's start, not from the submit: queued is not up.
            assert done.started_at is not None and done.started_at >= resumed - 2
            assert done.state == "succeeded" and RunWarning.PENDING not in done.warnings
    finally:
        if cluster.node_state() != "idle":
            cluster.run("scontrol", "update", f"nodename={cluster.node}", "state=resume")


async def test_a_requeued_job_keeps_its_log_and_a_job_cancelled_outside_is_killed(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    project = cluster_project(cluster, login, tmp_path)
    paths = ProjectPaths(project)
    async with supervising(project) as (_, client):
        run_id = await launched(client, "H5")
        await async_wait_for(lambda: metric_count(client, run_id) > 2, what="H5 running")
        run = client.run(run_id)
        assert run is not None and run.handle is not None
        job_id = str(run.handle["data"]["job_id"])
        before = (Path(run.handle["run_dir"]) / "train.log").read_bytes()
        cluster.run("scontrol", "requeue", job_id)
        # Back in the queue (Slurm holds a requeued job until its old credential expired:
        # ~6 s here), then running again: never taken for finished meanwhile.
        await async_wait_for(
            lambda: (r := client.run(run_id)) and r.active and "pending in the queue" in r.detail,
            what="the requeue seen",
        )
        onstart = Path(run.handle["run_dir"]) / "onstart.log"

        def started_again() -> bool:
            return onstart.read_text().count("(restart ") >= 2

        await async_wait_for(started_again, what="the job started again")
        assert client.run(run_id).active  # type: ignore[union-attr]
        log = (Path(run.handle["run_dir"]) / "train.log").read_bytes()
        assert log.startswith(before)  # appended to, not truncated
        cluster.run("scancel", job_id)  # from outside cockpit
        killed = await ended(client, run_id)
        assert killed.state == "failed" and killed.failure_class == "killed", killed.detail
        assert paths.mirror_log(run_id, "train").read_bytes().startswith(before)


async def test_one_squeue_per_poll_for_200_jobs(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    """A shim `squeue` first in PATH counts its calls on the login node."""
    from backends.base import RunHandle
    from cockpit.core.backend_factory import make_backend

    shim = squeue_counter(tmp_path / "shim")
    extra = f'PATH = "{shim}:{os.environ["PATH"]}"'
    project = cluster_project(cluster, login, tmp_path)
    toml = project / "cockpit.toml"
    toml.write_text(toml.read_text().replace("env = { ", f"env = {{ {extra}, "))
    backend = make_backend("hpc", load_config(project), ProjectPaths(project))
    try:
        ids = cluster.held_jobs(200)
        handles = [
            RunHandle(f"bulk{i}", "hpc", str(tmp_path / f"r{i}"), {"job_id": job})
            for i, job in enumerate(ids, 1)
        ]
        for count in (1, 200):
            calls = shim / "calls"
            calls.unlink(missing_ok=True)
            seen = await backend.observe(handles[:count])
            assert len(seen) == count and calls.read_text().count("x") == 1
            assert all(o.cost_per_hour == 0 and "pending" in o.waiting for o in seen.values())
        billed = await backend.list_billed()
        assert len([r for r in billed if r.run_id and r.run_id.startswith("bulk")]) == 200
        # `cockpit ps`: the store knows none of them, so each is an orphan.
        shown = subprocess.run(
            [sys.executable, "-m", "cockpit", "ps", "--project", str(project)],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout  # fmt: skip
        assert shown.count("ORPHAN") >= 200 and f"slurm:{ids[0]}" in shown, shown[-2000:]
    finally:
        cluster.run("scancel", "--user", getpass.getuser())
        await backend.close()


async def test_a_new_supervisor_re_attaches_to_a_running_job(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    """The supervisor is killed mid-run: the job runs on; the next one finds it by its handle
    (the job id in the store), follows its logs from the mirrored offset and stops it."""
    project = cluster_project(cluster, login, tmp_path)
    async with supervising(project) as (_, client):
        run_id = await launched(client, "H5")
        await async_wait_for(lambda: metric_count(client, run_id) > 2, what="H5 running")
    seen = metric_count(client, run_id)
    assert any(line.startswith(f"cockpit-{run_id} RUNNING") for line in cockpit_jobs(cluster))
    async with supervising(project) as (_, client):
        await async_wait_for(lambda: metric_count(client, run_id) > seen + 2, what="followed")
        client.submit_request(StopRequest(run_id=run_id), "test")
        assert (await ended(client, run_id)).state == "stopped"
    run = client.run(run_id)
    assert run is not None and run.handle is not None
    remote = (Path(run.handle["run_dir"]) / "train.log").read_bytes()
    assert ProjectPaths(project).mirror_log(run_id, "train").read_bytes() == remote


async def test_a_retried_submit_finds_its_job_and_a_pending_or_lost_job_is_cancelled(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    """`launch` again with the same run (a supervisor that died after `sbatch`, a dropped
    connection): the same job, never a second one — found by its id file, and by its name
    when that file is gone. Stopping it while it is pending cancels it; it never billed."""
    from backends.base import RunSpec
    from cockpit.core.backend_factory import make_backend

    project = cluster_project(cluster, login, tmp_path, 'sbatch_args = ["--hold"]\n')
    backend = make_backend("hpc", load_config(project), ProjectPaths(project))
    spec = RunSpec(
        run_id="h1-retry1", hypothesis="H1", plan="hypotheses.md", command="true", setup=None,
        workdir=str(project), commit="no-git",
    )  # fmt: skip
    try:
        first = await backend.launch(spec)
        again = await backend.launch(spec)
        (Path(first.run_dir) / "job_id").unlink()
        by_name = await backend.launch(spec)
        assert first.data["job_id"] == again.data["job_id"] == by_name.data["job_id"]
        assert [j for j in cockpit_jobs(cluster) if j.startswith("cockpit-h1-retry1 ")] == [
            "cockpit-h1-retry1 PENDING"
        ]
        seen = (await backend.observe([first]))["h1-retry1"]
        assert seen.cost_per_hour == 0 and seen.uptime_s == 0 and "pending" in seen.waiting
        await backend.stop(first, grace_s=1.0)
        assert not [j for j in cockpit_jobs(cluster) if "h1-retry1 PENDING" in j]
        assert await backend.list_billed() == []
        # A launch that failed without a handle (after sbatch went through): the supervisor's
        # end_leftovers finds the job by name and cancels it.
        lost = await backend.launch(RunSpec(**{**spec.to_json(), "run_id": "h1-lost22"}))
        assert any(r.run_id == "h1-lost22" for r in await backend.list_billed())
        assert await backend.end_leftovers("h1-lost22")
        assert await backend.list_billed() == [] and lost.data["job_id"]
    finally:
        await backend.close()


async def test_the_cost_cap_cancels_a_running_job_and_nothing_is_relaunched(
    cluster: Cluster, login: Sshd, tmp_path: Path
) -> None:
    """$3600/h: one running second is $1, over the $0.50 cap. The queue's time counted for
    nothing; the job is cancelled and gone, the run cap-exceeded, never relaunched."""
    project = cluster_project(cluster, login, tmp_path)
    toml = project / "cockpit.toml"
    toml.write_text(
        toml.read_text().replace("cost_per_hour = 7.2", "cost_per_hour = 3600")
        + "[cost]\nrun_cap = 0.5\n[recover]\nmax_attempts = 3\n"
    )
    async with supervising(project) as (supervisor, client):
        run_id = await launched(client, "H5")
        run = await ended(client, run_id)
        assert run.state == "cap-exceeded", run.detail
        assert run.cost_so_far >= 0.5
        assert not [j for j in cockpit_jobs(cluster) if f"cockpit-{run_id} RUNNING" in j]
        assert await supervisor.backends["hpc"].list_billed() == []
        assert [r.id for r in client.runs() if r.hypothesis == "H5"] == [run_id]
