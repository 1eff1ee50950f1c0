"""The RunPod backend against a loopback fake of RunPod's GraphQL API whose pods' SSH is an
in-process SSH server: lifecycle, re-attach, one request per poll, every fault, no leaked pod,
no leaked key."""

from __future__ import annotations

import asyncio
import getpass
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends.base import RunHandle, RunPhase, RunSpec
from backends.runpod import RunPodBackend
from backends.runpod_api import RunPodApi, RunPodAuthError, RunPodCapacityError, RunPodError
from cockpit.core.backend_factory import make_backend
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import FIXTURES, async_wait_for, write_project
from tests.fake_runpod import KEY, FakeRunPod, Fault
from tests.readings import metric_count
from tests.sshserver import SshTestServer


def pod_toml(server: SshTestServer, workdir: Path, extra: str = "") -> str:
    return (
        "[backends.pod]\n"
        'kind = "runpod"\n'
        'gpu_type = "NVIDIA H100 80GB HBM3"\n'
        f'ssh_identity_file = "{server.key_file}"\n'
        f'ssh_user = "{getpass.getuser()}"\n'
        f'workdir = "{workdir}"\n'
        "api_timeout_seconds = 0.5\n"
        "start_timeout_seconds = 30\n"
        "gpu_interval_seconds = 1\n"
        'env = { WEIRD = "it\'s \\"odd\\" $HOME\\nsecond line" }\n' + extra
    )


class Cockpit:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.paths = ProjectPaths(project)
        self.client = StoreReader(self.paths.db)
        self.task: asyncio.Task[None] | None = None
        self.supervisor: Supervisor | None = None

    def start(self) -> None:
        self.supervisor = Supervisor(self.project, load_config(self.project))
        self.task = asyncio.create_task(self.supervisor.run_forever(idle_exit_s=3600))

    async def discard(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def launch(self, hypothesis: str) -> str:
        request_id = self.client.submit_request(LaunchRequest(hypothesis=hypothesis), "test")
        request = await async_wait_for(
            lambda: (r := self.client.request(request_id)) and r.run_id and r, what="launch"
        )
        return str(request.run_id)  # type: ignore[union-attr]

    async def ended(self, run_id: str, timeout: float = 60) -> RunRecord:
        return await async_wait_for(  # type: ignore[return-value]
            lambda: (run := self.client.run(run_id)) and not run.active and run,
            timeout=timeout,
            what=f"{run_id} to end",
        )


@pytest.fixture
async def cockpit(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod
) -> AsyncIterator[Cockpit]:
    project = write_project(
        tmp_path / "proj",
        pod_toml(pod_ssh, tmp_path / "pod" / "workspace") + "[recover]\nbackoff_seconds = 0\n",
        'default_backend = "pod"\n',
    )
    cockpit = Cockpit(project)
    cockpit.start()
    yield cockpit
    if cockpit.task is not None and not cockpit.task.done():
        await cockpit.discard()


async def test_lifecycle_success_then_the_pod_is_terminated(
    cockpit: Cockpit, fake: FakeRunPod
) -> None:
    run = await cockpit.ended(await cockpit.launch("H1"))
    assert run.state == "succeeded", run.detail
    assert run.cost_per_hour == 2.99
    assert sorted(p.name for p in cockpit.paths.artifacts(run.id).iterdir()) == [
        "best.pt",
        "metrics.json",
    ]
    await async_wait_for(lambda: not fake.pods, what="the pod to be terminated")
    (pod_input,) = fake.inputs
    assert pod_input["name"] == run.id and pod_input["ports"].split(",")[0] == "22/tcp"
    env = {item["key"]: item["value"] for item in pod_input["env"]}
    assert env["WEIRD"] == 'it\'s "odd" $HOME\nsecond line'  # variables, not string-built
    assert env["PUBLIC_KEY"].startswith("ssh-ed25519 ")
    assert run.handle is not None and run.handle["data"]["host_key"].startswith("ssh-ed25519")
    assert cockpit.paths.mirror_log(run.id, "gpu").read_text().startswith("0, NVIDIA H100")
    assert cockpit.client.metrics.stats(run.id, "pod_gpu_util") == (97.0, 97.0, 97.0)


async def test_stop_and_terminate_leaves_no_pod(cockpit: Cockpit, fake: FakeRunPod) -> None:
    run_id = await cockpit.launch("H5")
    await async_wait_for(lambda: metric_count(cockpit.client, run_id) > 2, what="H5 running")
    fake.faults.append(Fault("terminate", "html-502"))  # the first terminate fails: retried
    cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    run = await cockpit.ended(run_id)
    assert run.state == "stopped"
    assert fake.pods == {} and fake.counts["terminate"] >= 2


async def test_a_restarted_cockpit_reattaches_to_the_pod(
    cockpit: Cockpit, fake: FakeRunPod
) -> None:
    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(lambda: mirror.exists() and '"step": 99,' in mirror.read_text())
    await cockpit.discard()
    run = cockpit.client.run(run_id)
    assert run is not None and run.handle is not None
    remote = Path(run.handle["run_dir"])
    (remote / "release").touch()
    (remote / "release2").touch()
    cockpit.start()
    assert (await cockpit.ended(run_id)).state == "succeeded"
    assert mirror.read_bytes() == (remote / "train.log").read_bytes()
    assert len(fake.inputs) == 1  # the same pod, never a second one
    await async_wait_for(lambda: not fake.pods, what="the pod to be terminated")


async def test_preempted_pod_is_relaunched(cockpit: Cockpit, fake: FakeRunPod) -> None:
    run_id = await cockpit.launch("H5")
    await async_wait_for(lambda: metric_count(cockpit.client, run_id) > 2, what="H5 running")
    fake.preempt(run_id)
    run = await cockpit.ended(run_id)
    assert (run.state, run.failure_class) == ("failed", "preempted")
    child = await async_wait_for(
        lambda: next((r for r in cockpit.client.runs() if r.parent == run_id), None),
        what="the relaunch",
    )
    assert child.attempt == 2  # type: ignore[union-attr]
    cockpit.client.submit_request(StopRequest(run_id=child.id), "test")  # type: ignore[union-attr]
    await cockpit.ended(child.id)  # type: ignore[union-attr]
    await async_wait_for(lambda: not fake.pods, what="no pod left")


async def test_a_bad_key_is_a_clear_failure_without_a_retry_storm(
    cockpit: Cockpit, fake: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.faults += [Fault("pods", "401")] * 3
    run = await cockpit.ended(await cockpit.launch("H1"))
    assert run.state == "failed" and run.failure_class == "infra"
    assert "RunPod refused the API key (HTTP 401)" in run.detail
    assert fake.counts["create"] == 0 and not fake.pods
    assert sum(fake.counts.values()) <= 3


def backend_for(project: Path) -> RunPodBackend:
    backend = make_backend("pod", load_config(project), ProjectPaths(project))
    assert isinstance(backend, RunPodBackend)
    return backend


def spec(project: Path, run_id: str = "h5-fault") -> RunSpec:
    return RunSpec(
        run_id=run_id, hypothesis="H5", plan="hypotheses.md",
        command=f"python3 {FIXTURES / 'trainer.py'} H5", setup=None,
        workdir=str(project), commit="no-git",
    )  # fmt: skip


@pytest.mark.parametrize(
    "kind",
    ["429", "500-errors", "html-502", "timeout", "went-wrong", "timeout-after-success",
     "went-wrong-after-success"],
)  # fmt: skip
async def test_transient_create_faults_end_with_exactly_one_pod(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod, kind: str
) -> None:
    project = write_project(tmp_path / "proj", pod_toml(pod_ssh, tmp_path / "pod" / "ws"))
    backend = backend_for(project)
    fake.faults.append(Fault("create", kind))
    handle = await backend.launch(spec(project))
    assert len(fake.pods) == 1  # however the create went, one pod
    await backend.stop(handle, 2)
    assert fake.pods == {}
    await backend.close()


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("capacity", RunPodCapacityError, "no longer any instances available"),
        ("graphql-error", RunPodError, "podId is invalid"),
        ("401", RunPodAuthError, "refused the API key"),
    ],
)
async def test_final_create_faults_are_clear_and_leave_nothing(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod, kind: str, error: type, words: str
) -> None:
    project = write_project(tmp_path / "proj", pod_toml(pod_ssh, tmp_path / "pod" / "ws"))
    backend = backend_for(project)
    fake.faults.append(Fault("create", kind))
    with pytest.raises(error, match=words) as info:
        await backend.launch(spec(project))
    assert KEY not in str(info.value)
    assert fake.pods == {} and fake.counts["create"] == 1
    await backend.close()


async def test_a_pod_that_never_offers_ssh_is_terminated(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod
) -> None:
    fake.starting_polls = 10**9
    toml = pod_toml(pod_ssh, tmp_path / "pod" / "ws").replace(
        "start_timeout_seconds = 30", "start_timeout_seconds = 0.3"
    )
    backend = backend_for(write_project(tmp_path / "proj", toml))
    with pytest.raises(RunPodError, match="no public SSH port"):
        await backend.launch(spec(tmp_path))
    assert fake.pods == {}  # the billed resource was ended before the error went up
    await backend.close()


@pytest.mark.parametrize("pods", [1, 50])
async def test_one_request_per_poll(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod, pods: int
) -> None:
    fake.starting_polls = 10**9  # starting pods: no SSH needed to observe them
    backend = backend_for(write_project(tmp_path / "proj", pod_toml(pod_ssh, tmp_path / "ws")))
    handles = [
        RunHandle(f"r{i}", "pod", f"/ws/r{i}", {"pod_id": fake.add_orphan(f"r{i}")})
        for i in range(pods)
    ]
    before = fake.counts["pods"]
    observed = await backend.observe(handles)
    assert fake.counts["pods"] - before == 1
    assert {obs.phase for obs in observed.values()} == {RunPhase.SETUP}
    await backend.close()


async def test_pods_are_checked_over_ssh_at_the_same_time(
    tmp_path: Path, pod_ssh: SshTestServer, fake: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll of many running pods overlaps their SSH checks (bounded), not one after another:
    every check waits until 16 are in flight at once, which a sequential poll never reaches."""
    from backends import runpod
    from backends.base import Observation

    backend = backend_for(write_project(tmp_path / "proj", pod_toml(pod_ssh, tmp_path / "ws")))
    handles = [
        RunHandle(f"r{i}", "pod", f"/ws/r{i}", {"pod_id": fake.add_orphan(f"r{i}")})
        for i in range(40)
    ]
    in_flight, most = 0, 0
    all_in = asyncio.Event()

    async def check(self: RunPodBackend, handle: RunHandle, pod: object) -> Observation:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == runpod.OBSERVE_CONCURRENCY:
            all_in.set()
        await all_in.wait()
        in_flight -= 1
        return Observation(RunPhase.TRAINING)

    monkeypatch.setattr(RunPodBackend, "_observe_one", check)
    observed = await asyncio.wait_for(backend.observe(handles), 10)
    assert len(observed) == 40 and most == runpod.OBSERVE_CONCURRENCY
    await backend.close()


async def test_ps_shows_every_pod_the_store_does_not_know(
    cockpit: Cockpit, fake: FakeRunPod
) -> None:
    fake.add_orphan("forgotten-run")
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cockpit", "ps", "--json", "--project", str(cockpit.project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    rows = json.loads(result.stdout)
    assert [(r["run_id"], r["known"], r["cost_per_hour"]) for r in rows] == [
        ("forgotten-run", False, 2.99)
    ]
    assert KEY not in result.stdout + result.stderr


async def test_the_key_appears_nowhere(cockpit: Cockpit, fake: FakeRunPod) -> None:
    fake.faults.append(Fault("create", "graphql-error"))
    await cockpit.ended(await cockpit.launch("H1"))
    run = await cockpit.ended(await cockpit.launch("H1"))
    assert run.state == "succeeded"
    dump = "\n".join(sqlite3.connect(cockpit.paths.db).iterdump())
    assert KEY not in dump
    for path in cockpit.paths.state.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".db", ".lock"):
            assert KEY.encode() not in path.read_bytes(), path
    assert all(KEY not in body for body in fake.bodies)  # only in the Authorization header


def test_the_api_key_comes_from_the_env_or_runpods_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backends.runpod_api import find_api_key

    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    assert find_api_key(tmp_path) is None
    (tmp_path / ".runpod").mkdir()
    (tmp_path / ".runpod" / "config.toml").write_text('[default]\napi_key = "from-file"\n')
    assert find_api_key(tmp_path) == "from-file"
    monkeypatch.setenv("RUNPOD_API_KEY", "from-env")
    assert find_api_key(tmp_path) == "from-env"
    monkeypatch.delenv("RUNPOD_API_BASE_URL", raising=False)
    assert RunPodApi("k").base_url == "https://api.runpod.io"


async def test_a_stop_while_the_pod_starts_terminates_it(
    cockpit: Cockpit, fake: FakeRunPod
) -> None:
    fake.starting_polls = 20  # the pod takes a while to offer SSH
    run_id = await cockpit.launch("H5")
    await async_wait_for(lambda: fake.pods, what="the pod to exist")
    stop = cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    run = await cockpit.ended(run_id)
    assert run.state == "stopped"
    await async_wait_for(
        lambda: (r := cockpit.client.request(stop)) and r.status == "done", what="the stop"
    )
    await async_wait_for(lambda: not fake.pods, what="the pod to be terminated")
