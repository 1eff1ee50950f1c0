"""End to end against OpenSSH's real sshd (Debian's openssh-server), started by the test on
127.0.0.1 with its own host key, authorized_keys and config: a launch runs, streams, succeeds,
and its artifacts come back over sftp; a second run is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for, wait_for, write_project
from tests.readings import metric_count

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sshd:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        self.root = root
        self.port = free_port()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")],
            check=True,
        )
        client = asyncssh.generate_private_key("ssh-ed25519")
        self.key_file = root / "client_key"
        self.key_file.write_bytes(client.export_private_key())
        self.key_file.chmod(0o600)
        (root / "authorized_keys").write_bytes(client.export_public_key())
        host_pub = (root / "host_key.pub").read_text().split()
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root}/host_key\n"
            f"PidFile {root}/sshd.pid\nAuthorizedKeysFile {root}/authorized_keys\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        with open(root / "sshd.log", "wb") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        wait_for(self._listening, timeout=30, what="sshd to listen")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def box_project(sshd: Sshd, tmp_path: Path, workdir: Path, top: str) -> Path:
    """A project whose backend `box` is this sshd."""
    toml = (
        "[backends.box]\n"
        'kind = "ssh"\nhost = "127.0.0.1"\n'
        f'port = {sshd.port}\nuser = "{getpass.getuser()}"\n'
        f'identity_file = "{sshd.key_file}"\nknown_hosts = "{sshd.known_hosts}"\n'
        f'workdir = "{workdir}"\ngpu_interval_seconds = 1\n'
    )
    return write_project(tmp_path / "proj", toml, top)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if not os.path.exists(SSHD):
        if os.environ.get("CI"):
            pytest.fail("OpenSSH's sshd is missing: ./dev.sh test installs openssh-server")
        pytest.skip("openssh-server is not installed")
    server = Sshd(tmp_path / "sshd")
    yield server
    server.stop()


async def test_a_run_on_a_real_sshd(sshd: Sshd, tmp_path: Path) -> None:
    project = box_project(sshd, tmp_path, tmp_path / "remote", 'default_backend = "box"\n')
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    paths = ProjectPaths(project)
    try:
        first = client.submit_request(LaunchRequest(hypothesis="H1"), "test")
        run_id = str(
            await async_wait_for(lambda: (r := client.request(first)) and r.run_id, what="launch")
        )
        run = await async_wait_for(
            lambda: (r := client.run(run_id)) and not r.active and r, what="the run"
        )
        assert run.state == "succeeded", run.detail  # type: ignore[union-attr]
        remote = Path(run.handle["run_dir"])  # type: ignore[union-attr, index]
        assert paths.mirror_log(run_id, "train").read_bytes() == (remote / "train.log").read_bytes()
        assert sorted(p.name for p in paths.artifacts(run_id).iterdir()) == [
            "best.pt",
            "metrics.json",
        ]
        gpu = paths.mirror_log(run_id, "gpu").read_text()
        assert gpu.startswith("no NVIDIA GPU on this host") or gpu.startswith("0, ")

        second = client.submit_request(LaunchRequest(hypothesis="H5"), "test")
        stopped_id = str(
            await async_wait_for(lambda: (r := client.request(second)) and r.run_id, what="H5")
        )
        await async_wait_for(lambda: metric_count(client, stopped_id) > 2, what="H5 running")
        client.submit_request(StopRequest(run_id=stopped_id), "test")
        stopped = await async_wait_for(
            lambda: (r := client.run(stopped_id)) and not r.active and r, what="the stop"
        )
        assert stopped.state == "stopped"  # type: ignore[union-attr]
        assert await supervisor.backends["box"].list_billed() == []
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


async def test_nothing_started_on_the_host_outlives_its_stream(sshd: Sshd, tmp_path: Path) -> None:
    """Issue 21, finding 10: on a host without nvidia-smi the GPU source's placeholder, and a
    quiet `tail -F`, are ended when their channel closes — at every reconnect and at the end."""
    remote = tmp_path / "remote"
    project = box_project(sshd, tmp_path, remote, 'default_backend = "box"\n')
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    placeholders = len(processes("sleep 2147483647"))
    try:
        request = client.submit_request(LaunchRequest(hypothesis="H7"), "test")  # goes quiet
        run_id = str(
            await async_wait_for(lambda: (r := client.request(request)) and r.run_id, what="H7")
        )
        host = supervisor.backends["box"].host  # type: ignore[attr-defined]
        for _ in range(3):  # three reconnects: every stream starts its command again
            await async_wait_for(
                lambda: len(processes(f"tail -c .* -F {remote}")) >= 2, what="the tails"
            )
            old = {line.split()[0] for line in processes(f"tail -c .* -F {remote}")}
            polls = supervisor.polls  # a quiet stream keeps its one tail: no churn
            await async_wait_for(lambda: supervisor.polls >= polls + 15, what="15 polls")  # noqa: B023
            assert old <= {line.split()[0] for line in processes(f"tail -c .* -F {remote}")}
            (await host.connection()).close()
            await async_wait_for(
                lambda old=old: (  # type: ignore[misc]
                    not old & {line.split()[0] for line in processes(f"tail -c .* -F {remote}")}
                ),
                what="the old tails gone",
            )
        await async_wait_for(
            lambda: len(processes(f"tail -c .* -F {remote}")) >= 2, what="tails again"
        )
        client.submit_request(StopRequest(run_id=run_id), "test")
        await async_wait_for(lambda: (r := client.run(run_id)) and not r.active, what="the stop")
        await async_wait_for(
            lambda: (
                not processes(f"tail -c .* -F {remote}")
                and len(processes("sleep 2147483647")) <= placeholders
            ),
            what="nothing left on the host",
        )
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_hung_host_does_not_freeze_supervision(sshd: Sshd, tmp_path: Path) -> None:
    """Issue 21, finding 7: the session's sshd SIGSTOPped (no RST, nothing answers). Polls,
    requests and the other backends go on; the run says its host has not answered."""
    import signal

    project = box_project(
        sshd, tmp_path, tmp_path / "remote", 'default_backend = "box"\nmax_parallel = 2\n'
    )
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    sessions: list[int] = []
    try:
        request = client.submit_request(LaunchRequest(hypothesis="H5"), "test")
        run_id = str(
            await async_wait_for(lambda: (r := client.request(request)) and r.run_id, what="H5")
        )
        await async_wait_for(lambda: metric_count(client, run_id) > 2, what="H5 running")
        found = subprocess.run(
            ["pgrep", "-P", str(sshd.process.pid)], capture_output=True, text=True
        )
        sessions = [int(pid) for pid in found.stdout.split()]
        assert sessions
        for pid in sessions:
            os.kill(pid, signal.SIGSTOP)
        polls = supervisor.polls
        await async_wait_for(lambda: supervisor.polls >= polls + 30, what="polls going on")
        local = client.submit_request(LaunchRequest(hypothesis="H1", backend="local"), "test")
        local_id = str(
            await async_wait_for(lambda: (r := client.request(local)) and r.run_id, what="H1")
        )
        done = await async_wait_for(
            lambda: (r := client.run(local_id)) and not r.active and r, what="H1 on local"
        )
        assert done.state == "succeeded"  # type: ignore[union-attr]
        await async_wait_for(
            lambda: "has not answered since" in (client.run(run_id).detail or ""),  # type: ignore[union-attr]
            what="the run to say so",
        )
        assert client.run(run_id).active  # type: ignore[union-attr]
    finally:
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
