"""The SSH backend against an in-process asyncssh server on 127.0.0.1: launch, three sources,
artifacts over SFTP, stop, host keys, a dropped connection, a restarted supervisor."""

from __future__ import annotations

import asyncio
import getpass
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends import processes as procs
from backends.base import RunPhase, RunSpec
from backends.ssh import SshBackend
from backends.ssh_conn import HostKeyError, SshHost
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for, write_project
from tests.sshserver import SshTestServer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SshTestServer]:
    server = SshTestServer(tmp_path / "host")
    await server.start()
    yield server
    await server.kill()


def ssh_toml(server: SshTestServer, workdir: Path) -> str:
    return (
        "[backends.lab]\n"
        'kind = "ssh"\n'
        'host = "127.0.0.1"\n'
        f"port = {server.port}\n"
        f'user = "{getpass.getuser()}"\n'
        f'identity_file = "{server.key_file}"\n'
        f'known_hosts = "{server.known_hosts}"\n'
        f'workdir = "{workdir}"\n'
        "cost_per_hour = 2.0\n"
        "gpu_interval_seconds = 1\n"
    )


class Cockpit:
    """A supervisor on a project whose default backend is the test server."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.paths = ProjectPaths(project)
        self.client = StoreReader(self.paths.db)
        self.supervisor: Supervisor | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.supervisor = Supervisor(self.project, load_config(self.project))
        self.task = asyncio.create_task(self.supervisor.run_forever(idle_exit_s=3600))

    async def discard(self) -> None:
        assert self.task is not None and self.supervisor is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def launch(self, hypothesis: str) -> str:
        request_id = self.client.submit_request(LaunchRequest(hypothesis=hypothesis), "test")
        request = await async_wait_for(
            lambda: (
                (r := self.client.request(request_id)) and r.status != "pending" and r.run_id and r
            ),
            what="the launch",
        )
        return str(request.run_id)  # type: ignore[union-attr]

    async def supervisor_polls(self, count: int) -> None:
        """Wait for `count` more polls of the running supervisor."""
        assert self.supervisor is not None
        supervisor, target = self.supervisor, self.supervisor.polls + count
        await async_wait_for(lambda: supervisor.polls >= target, what=f"{count} polls")

    async def ended(self, run_id: str) -> RunRecord:
        return await async_wait_for(  # type: ignore[return-value]
            lambda: (run := self.client.run(run_id)) and not run.active and run,
            what=f"{run_id} to end",
        )


@pytest.fixture
async def cockpit(tmp_path: Path, server: SshTestServer) -> AsyncIterator[Cockpit]:
    project = write_project(
        tmp_path / "proj", ssh_toml(server, tmp_path / "host" / "work"), 'default_backend = "lab"\n'
    )
    cockpit = Cockpit(project)
    cockpit.start()
    yield cockpit
    if cockpit.task is not None and not cockpit.task.done():
        await cockpit.discard()


async def test_launch_streams_three_sources_and_succeeds_with_artifacts(cockpit: Cockpit) -> None:
    run_id = await cockpit.launch("H1")
    run = await cockpit.ended(run_id)
    assert run.state == "succeeded", run.detail
    remote = Path(run.handle["run_dir"])  # type: ignore[index]
    assert str(remote).endswith(f"/work/.cockpit/{run_id}")
    train = cockpit.paths.mirror_log(run_id, "train").read_bytes()
    assert train == (remote / "train.log").read_bytes() and b'"step": 19' in train
    onstart = cockpit.paths.mirror_log(run_id, "onstart").read_text()
    assert "no git checkout" in onstart and "unpacked the project's files" in onstart
    assert "setting up" in onstart and f"COCKPIT_RUN_DIR={remote}" not in onstart
    assert f"env run_id={run_id} run_dir={remote}" in train.decode()
    assert sorted(p.name for p in cockpit.paths.artifacts(run_id).iterdir()) == [
        "best.pt",
        "metrics.json",
    ]
    assert cockpit.client.metrics.series(run_id, "step") == [float(s) for s in range(20)]
    assert run.cost_per_hour == 2.0


async def test_gpu_samples_come_from_nvidia_smi_and_stop_kills_the_group(cockpit: Cockpit) -> None:
    run_id = await cockpit.launch("H5")
    await async_wait_for(lambda: cockpit.client.metrics.stats(run_id, "gpu_util"), what="gpu")
    gpu = cockpit.paths.mirror_log(run_id, "gpu").read_text()
    assert gpu.startswith("0, NVIDIA H100 80GB HBM3, 9")
    run = cockpit.client.run(run_id)
    assert run is not None and run.handle is not None
    grandchild = Path(run.handle["run_dir"]) / "grandchild.pid"
    await async_wait_for(grandchild.exists, what="the grandchild")
    request = cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    stopped = await cockpit.ended(run_id)
    assert stopped.state == "stopped"
    assert cockpit.client.request(request).status == "done"  # type: ignore[union-attr]
    assert not procs.group_alive(int(run.handle["data"]["pgid"]))
    assert not procs.is_alive(int(grandchild.read_text()), None)


async def test_connection_loss_loses_and_repeats_nothing(
    cockpit: Cockpit, server: SshTestServer
) -> None:
    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(
        lambda: mirror.exists() and '"step": 99,' in mirror.read_text(), what="100 steps"
    )
    await async_wait_for(lambda: cockpit.client.run(run_id).state == "running")  # type: ignore[union-attr]
    run = cockpit.client.run(run_id)
    assert run is not None and run.handle is not None
    remote = Path(run.handle["run_dir"])
    await server.kill()  # mid-stream; the run keeps writing on the host
    (remote / "release").touch()
    await async_wait_for(lambda: '"step": 149,' in (remote / "train.log").read_text())
    await async_wait_for(
        lambda: "unknown since" in (cockpit.client.run(run_id).detail or ""),  # type: ignore[union-attr]
        what="the unreachable note",
    )
    assert cockpit.client.run(run_id).state == "running"  # type: ignore[union-attr]
    await server.restart()
    await async_wait_for(lambda: '"step": 149,' in mirror.read_text(), what="the catch-up")
    (remote / "release2").touch()
    assert (await cockpit.ended(run_id)).state == "succeeded"
    assert mirror.read_bytes() == (remote / "train.log").read_bytes()
    steps = [json.loads(line)["step"] for line in mirror.read_text().splitlines() if "{" in line]
    assert steps == list(range(200))


async def test_a_new_supervisor_reattaches(cockpit: Cockpit) -> None:
    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(
        lambda: mirror.exists() and '"step": 99,' in mirror.read_text(), what="100 steps"
    )
    await cockpit.discard()
    remote = Path(cockpit.client.run(run_id).handle["run_dir"])  # type: ignore[union-attr, index]
    (remote / "release").touch()
    (remote / "release2").touch()
    cockpit.start()
    assert (await cockpit.ended(run_id)).state == "succeeded"
    assert mirror.read_bytes() == (remote / "train.log").read_bytes()


async def test_an_unknown_host_key_is_refused_naming_the_host(
    cockpit: Cockpit, server: SshTestServer
) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    server.known_hosts.write_text(f"[127.0.0.1]:{server.port} {other}\n")
    # The host cannot even be asked for its GPUs: the run waits in the queue saying why (a
    # host that is down comes back; this one needs you), and nothing is launched there.
    run_id = await cockpit.launch("H1")
    waiting = await async_wait_for(
        lambda: (run := cockpit.client.run(run_id)) and "host key of lab (" in run.detail and run,
        what="the reason",
    )
    assert waiting.state == "queued" and waiting.handle is None  # type: ignore[union-attr]
    assert waiting.detail.startswith("queued #1: cannot ask for GPUs: lab: ")  # type: ignore[union-attr]
    assert "never accepts a host key" in waiting.detail  # type: ignore[union-attr]
    cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    assert (await cockpit.ended(run_id)).state == "stopped"
    host = SshHost("lab", "127.0.0.1", server.port, getpass.getuser(), [server.key_file],
                   str(server.known_hosts))  # fmt: skip
    with pytest.raises(HostKeyError, match="host key of lab"):
        await host.connection()


async def test_code_from_the_hosts_checkout_and_odd_values_arrive_intact(
    tmp_path: Path, server: SshTestServer
) -> None:
    project = write_project(tmp_path / "repo")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    checkout = tmp_path / "host" / "checkout"
    subprocess.run(["git", "clone", "-q", str(project), str(checkout)], check=True)
    weird = 'it\'s "quoted" $HOME `date`\nsecond line \\ end'
    host = SshHost("lab", "127.0.0.1", server.port, getpass.getuser(), [server.key_file],
                   str(server.known_hosts))  # fmt: skip
    backend = SshBackend("lab", host, project, workdir=str(checkout), env={"WEIRD": weird})
    spec = RunSpec(
        run_id="h1-odd", hypothesis="H1", plan="hypotheses.md",
        command="printf '%s' \"$WEIRD\" > \"$COCKPIT_RUN_DIR/weird.txt\"; git rev-parse HEAD",
        setup=None, workdir=str(project), commit=commit,
    )  # fmt: skip
    handle = await backend.launch(spec)
    again = await backend.launch(spec)  # idempotent on the run id
    assert again.data["pid"] == handle.data["pid"]
    run_dir = Path(handle.run_dir)
    await async_wait_for(lambda: (run_dir / "exit_code").exists(), what="the run")
    assert (run_dir / "weird.txt").read_text() == weird
    assert (run_dir / "train.log").read_text().strip() == commit  # ran in a worktree at commit
    assert "git worktree add --detach" in (run_dir / "onstart.log").read_text()
    observed = (await backend.observe([handle]))["h1-odd"]
    assert (observed.phase, observed.exit_code, observed.setup_done) == (RunPhase.EXITED, 0, True)
    await backend.close()


async def test_ps_lists_runs_on_the_host(cockpit: Cockpit) -> None:
    run_id = await cockpit.launch("H5")
    await async_wait_for(lambda: cockpit.client.run(run_id).handle, what="the launch")  # type: ignore[union-attr]
    assert cockpit.supervisor is not None
    backend = cockpit.supervisor.backends["lab"]
    listed = await backend.list_billed()
    assert [item.run_id for item in listed] == [run_id]
    assert listed[0].resource_id == f"lab:{run_id}" and listed[0].cost_per_hour == 2.0
    cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    await cockpit.ended(run_id)
    assert await backend.list_billed() == []


async def test_a_stop_sent_while_the_host_is_down_holds_until_it_is_done(
    cockpit: Cockpit, server: SshTestServer
) -> None:
    """Issue 21, finding 4: the stop is an intent that holds until verified: pending (and said
    so) while the host is unreachable, carried out when it returns; the run never trains on to
    success."""
    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(
        lambda: mirror.exists() and '"step": 99,' in mirror.read_text(), what="100 steps"
    )
    run = cockpit.client.run(run_id)
    assert run is not None and run.handle is not None
    remote = Path(run.handle["run_dir"])
    await server.kill()
    lock = SupervisorLock(cockpit.paths.lock)
    assert lock.acquire()  # this test's in-process supervisor is the one (no second)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cockpit", "stop", run_id, "--yes",
        "--project", str(cockpit.project),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert cli.stderr is not None and cli.stdout is not None
    said = await asyncio.wait_for(cli.stderr.readline(), 60)
    assert said.decode().startswith(f"{run_id}: ")  # it says what it waits for
    while b"stop pending" not in said:
        said = await asyncio.wait_for(cli.stderr.readline(), 60)
    (request_id,) = [
        row[0] for row in cockpit.client.conn.execute("SELECT id FROM requests WHERE kind = 'stop'")
    ]
    detail = cockpit.client.run(run_id).detail  # type: ignore[union-attr]
    assert "unreachable" in detail and "retried until it is done" in detail
    assert cockpit.client.run(run_id).active  # type: ignore[union-attr]
    request = cockpit.client.request(request_id)
    assert request is not None and request.status in ("pending", "running")
    assert not (remote / "exit_code").exists()  # the trainer still waits on the host
    await server.restart()
    ended = await cockpit.ended(run_id)
    assert ended.state == "stopped", ended.detail
    done = await async_wait_for(
        lambda: (r := cockpit.client.request(request_id)) and r.status == "done" and r,
        what="the stop request done",
    )
    assert done is not None
    out = await asyncio.wait_for(cli.stdout.read(), 60)
    assert await cli.wait() == 0 and out.decode().startswith(f"{run_id}: stopped")
    lock.release()


@pytest.mark.timeout(300)
async def test_outage_words_clear_and_a_changed_host_key_is_an_alert(
    cockpit: Cockpit, server: SshTestServer
) -> None:
    """Issue 21, finding 9: while the host is down the status line says `?unreachable`, not
    `running`; when it is back the outage's detail goes. A host key that changes mid-run is a
    standing alert naming the host and the known_hosts line, cleared once the key is trusted."""
    import asyncssh

    from cockpit.cli import status

    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(
        lambda: mirror.exists() and '"step": 99,' in mirror.read_text(), what="100 steps"
    )
    # Its detail once it is seen training (until then it says where it was placed).
    await async_wait_for(lambda: cockpit.client.run(run_id).state == "running")  # type: ignore[union-attr]
    before = cockpit.client.run(run_id).detail  # type: ignore[union-attr]
    await server.kill()
    await async_wait_for(
        lambda: status.gather(cockpit.project)["run"]["state"] == "?unreachable",
        what="?unreachable",
    )
    assert "?unreachable" in status.tmux_line(status.gather(cockpit.project))
    await server.restart()
    await async_wait_for(
        lambda: (r := cockpit.client.run(run_id)) and r.detail == before and "unreachable"
        not in r.warnings,
        timeout=90,  # the reconnect backoff (up to 30 s) runs first
        what="the outage words gone",
    )  # fmt: skip
    assert status.gather(cockpit.project)["run"]["state"] == "running"

    await server.kill()  # the host comes back with another key (reinstalled, or an attack)
    server.host_key = asyncssh.generate_private_key("ssh-ed25519")
    known = server.known_hosts.read_text()
    await server.restart()
    server.known_hosts.write_text(known)  # restart() trusted the new key; the user had not
    alert = await async_wait_for(
        lambda: next((a for a in cockpit.client.alerts() if a.key.startswith("backend:")), None),
        timeout=90,
        what="the host-key alert",
    )
    assert f"the line for [127.0.0.1]:{server.port} in {server.known_hosts}" in alert.message  # type: ignore[union-attr]
    assert "host key of lab (" in alert.message  # type: ignore[union-attr]
    assert cockpit.client.run(run_id).active  # type: ignore[union-attr]
    server.trust(server.port)  # the user checked and trusts the new key
    await async_wait_for(lambda: not cockpit.client.alerts(), timeout=90, what="the alert to clear")
    remote = Path(cockpit.client.run(run_id).handle["run_dir"])  # type: ignore[union-attr, index]
    (remote / "release").touch()
    (remote / "release2").touch()
    assert (await cockpit.ended(run_id)).state == "succeeded"
    assert mirror.read_bytes() == (remote / "train.log").read_bytes()
