"""The real `cockpit supervise` process SIGKILLed in the middle of a launch: during pre-flight
(a smoke command that takes a while) and during a RunPod create held at the loopback fake API.
A new supervisor settles the run, and a later run's cost cap holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import processes as procs
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, RunState
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock
from tests.conftest import async_wait_for, wait_for, write_project
from tests.fake_runpod import FakeRunPod
from tests.sshserver import SshTestServer
from tests.test_runpod import pod_toml


def supervise(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cockpit", "supervise", "--project", str(project),
         "--idle-exit", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def sigkill(process: subprocess.Popen[bytes], paths: ProjectPaths) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not SupervisorLock(paths.lock).is_held_elsewhere()


def launched(client: StoreReader, hypothesis: str) -> str:
    request_id = client.submit_request(LaunchRequest(hypothesis), "test")

    def run_id() -> object:
        request = client.request(request_id)
        return request is not None and request.run_id

    return str(wait_for(run_id, what=f"{hypothesis} launched"))


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:  # killed: a graceful exit would wait on this test's SSH server
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigkill_during_preflight(tmp_path: Path, processes: list) -> None:  # type: ignore[type-arg]
    smoke = 'echo $$ > "$COCKPIT_RUN_DIR/smoke-started"; exec sleep 120'
    project = write_project(
        tmp_path / "proj",
        f"[preflight]\nsmoke = '{smoke}'\n[cost]\nrun_cap = 0.002\n",
    )
    (project / "hypotheses.md").write_text(
        (project / "hypotheses.md").read_text().replace("- smoke test を skip\n", "")
    )
    paths = ProjectPaths(project)
    processes.append(first := supervise(project))
    client = StoreReader(paths.db)
    run_id = launched(client, "H1")
    started = paths.mirror(run_id) / "preflight" / "smoke-started"
    wait_for(started.exists, what="the smoke command to start")
    smoke_pid = int(wait_for(lambda: started.read_text().strip(), what="its pid"))  # type: ignore[arg-type]
    sigkill(first, paths)
    assert procs.is_alive(smoke_pid, None)  # SIGKILL ends no child: it is left running
    run = client.run(run_id)
    assert run is not None and (run.state, run.stage) == (RunState.STARTING, "preflight")

    processes.append(supervise(project))
    wait_for(lambda: not client.run(run_id).active, what="the run to be settled")  # type: ignore[union-attr]
    run = client.run(run_id)
    assert run is not None and (run.state, run.failure_class) == ("failed", "interrupted")
    assert "pre-flight interrupted" in run.detail
    wait_for(lambda: not procs.is_alive(smoke_pid, None), what="the leftover smoke to end")

    # Supervision goes on: a later run (smoke skipped again) is held to its cap.
    (project / "hypotheses.md").write_text(
        (project / "hypotheses.md")
        .read_text()
        .replace("## Skip list\n", "## Skip list\n- smoke test を skip\n")
    )
    later = launched(client, "H5")
    wait_for(lambda: client.run(later).state == "cap-exceeded", what="the cap", timeout=60)  # type: ignore[union-attr]


async def test_sigkill_during_a_runpod_create(
    tmp_path: Path,
    pod_ssh: SshTestServer,
    fake: FakeRunPod,
    processes: list,  # type: ignore[type-arg]
) -> None:
    project = write_project(
        tmp_path / "proj",
        pod_toml(pod_ssh, tmp_path / "pod" / "workspace") + "[cost]\nrun_cap = 0.004\n",
        'default_backend = "pod"\n',
    )
    paths = ProjectPaths(project)
    client = StoreReader(paths.db)
    fake.create_gate = threading.Event()
    processes.append(first := supervise(project))
    request_id = client.submit_request(LaunchRequest("H5"), "test")
    await async_wait_for(fake.create_held.is_set, what="the create request at the API")
    sigkill(first, paths)
    fake.create_gate.set()  # the create goes through server-side; its answer reaches no one
    await async_wait_for(lambda: len(fake.pods) == 1, what="the pod created without a client")
    run_id = str(client.request(request_id).run_id)  # type: ignore[union-attr]
    run = client.run(run_id)
    assert run is not None and (run.stage, run.handle) == ("launching", None)

    processes.append(supervise(project))
    ended = await async_wait_for(
        lambda: (found := client.run(run_id)) and not found.active and found,
        timeout=90, what="the adopted run to be settled",
    )  # fmt: skip
    assert ended.state == "cap-exceeded"  # type: ignore[union-attr]
    assert len(fake.inputs) == 1  # adopted by its name, never created twice
    await async_wait_for(lambda: not fake.pods, what="the pod to be terminated")

    later = client.submit_request(LaunchRequest("H4"), "test")
    later_id = await async_wait_for(lambda: client.request(later).run_id, what="the later run")  # type: ignore[union-attr]
    capped = await async_wait_for(
        lambda: (found := client.run(str(later_id))) and not found.active and found,
        timeout=90, what="the later run's cap",
    )  # fmt: skip
    assert capped.state == "cap-exceeded"  # type: ignore[union-attr]
    await async_wait_for(lambda: not fake.pods, what="no pod left")
    assert len(fake.inputs) == 2
