"""GPU placement and the queue on a real SSH server (issue 20): the in-process asyncssh server's
fake `nvidia-smi` reports two H100s; runs get `CUDA_VISIBLE_DEVICES` (the stand-in trainer
prints it), a third waits `queued` and takes the GPU the first frees, a queued run stopped is
removed without starting, another user's process keeps its GPU, and a restarted supervisor
keeps the queue's order and every placement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.core.protocol import StopRequest
from cockpit.core.records import RunRecord
from tests.conftest import async_wait_for, write_project
from tests.sshserver import SshTestServer
from tests.test_ssh_backend import Cockpit, ssh_toml


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SshTestServer]:
    server = SshTestServer(tmp_path / "host", gpus=2)
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
async def cockpit(tmp_path: Path, server: SshTestServer) -> AsyncIterator[Cockpit]:
    project = write_project(
        tmp_path / "proj",
        ssh_toml(server, tmp_path / "host" / "work"),
        'default_backend = "lab"\nmax_parallel = 4\n',
    )
    cockpit = Cockpit(project)
    cockpit.start()
    yield cockpit
    if cockpit.task is None or cockpit.task.done():
        cockpit.start()
    await stop_all(cockpit)
    await cockpit.discard()


def run_of(cockpit: Cockpit, run_id: str) -> RunRecord:
    run = cockpit.client.run(run_id)
    assert run is not None
    return run


async def placed(cockpit: Cockpit, run_id: str, gpus: tuple[int, ...]) -> RunRecord:
    """Wait until the run is placed and its trainer says which GPUs it sees."""
    run = await async_wait_for(
        lambda: (run := run_of(cockpit, run_id)).state == "running" and run,
        what=f"{run_id} running",
    )
    mirror = cockpit.paths.mirror_log(run_id, "train")
    cuda = f"cuda={','.join(str(index) for index in gpus)}\n"
    await async_wait_for(lambda: mirror.exists() and cuda in mirror.read_text(), what=cuda)
    assert run.host == "lab" and run.gpus == gpus  # type: ignore[union-attr]
    return run  # type: ignore[return-value]


async def queued(cockpit: Cockpit, run_id: str, position: int) -> RunRecord:
    return await async_wait_for(  # type: ignore[return-value]
        lambda: (
            (run := run_of(cockpit, run_id)).state == "queued"
            and run.detail.startswith(f"queued #{position}:")
            and run
        ),
        what=f"{run_id} queued #{position}",
    )


@pytest.mark.timeout(120)
async def test_three_launches_on_two_gpus(cockpit: Cockpit) -> None:
    first = await cockpit.launch("H4")
    await placed(cockpit, first, (0,))
    second = await cockpit.launch("H5")
    await placed(cockpit, second, (1,))
    # its gpu source samples its own GPU (`nvidia-smi -i 1`), not the host's every GPU
    assert run_of(cockpit, second).handle["data"]["gpus"] == "1"  # type: ignore[index]
    from backends import ssh_scripts

    assert "--format=csv,noheader,nounits -i 1 -l 1" in ssh_scripts.gpu(1, True, [1])
    third = await cockpit.launch("H7")
    waiting = await queued(cockpit, third, 1)
    assert "waiting for 1 free GPU on one host (lab: 0 of 2 free)" in waiting.detail
    assert waiting.host is None and waiting.gpus == () and waiting.cost_so_far == 0
    assert waiting.handle is None  # nothing was launched for it
    remote = Path(run_of(cockpit, first).handle["run_dir"])  # type: ignore[index]
    (remote / "release").touch()
    (remote / "release2").touch()
    assert (await cockpit.ended(first)).state == "succeeded"
    await placed(cockpit, third, (0,))  # the freed GPU
    assert run_of(cockpit, second).gpus == (1,)
    assert cockpit.client.run(third).to_json()["gpus"] == [0]  # type: ignore[union-attr]


@pytest.mark.timeout(120)
async def test_stopping_a_queued_run_removes_it_and_starts_nothing(cockpit: Cockpit) -> None:
    first, second = await cockpit.launch("H5"), await cockpit.launch("H7")
    await placed(cockpit, first, (0,))
    await placed(cockpit, second, (1,))
    third = await cockpit.launch("H4")
    await queued(cockpit, third, 1)
    request = cockpit.client.submit_request(StopRequest(run_id=third), "test")
    removed = await cockpit.ended(third)
    assert removed.state == "stopped" and removed.handle is None and removed.stage == "done"
    assert removed.detail == "left the queue unstarted: removed from the queue on request"
    assert cockpit.client.request(request).status == "done"  # type: ignore[union-attr]
    assert not (Path(cockpit.project).parent / "host" / "work" / ".cockpit" / third).exists()
    assert [run.id for run in cockpit.client.active_runs()] == [first, second]
    assert not list(cockpit.project.glob("iter*_result.md"))  # nothing ran: no result


@pytest.mark.timeout(120)
async def test_another_users_process_keeps_its_gpu(cockpit: Cockpit, server: SshTestServer) -> None:
    (server.bin_dir / "apps.csv").write_text("GPU-00000000-fake, 4242, 30000\n")
    first = await cockpit.launch("H5")
    await placed(cockpit, first, (1,))
    second = await cockpit.launch("H7")
    waiting = await queued(cockpit, second, 1)
    assert "(lab: 0 of 2 free)" in waiting.detail
    (server.bin_dir / "apps.csv").write_text("")  # the other job ended
    await placed(cockpit, second, (0,))


@pytest.mark.timeout(180)
async def test_a_restarted_supervisor_keeps_the_queue_and_the_placement(
    cockpit: Cockpit,
) -> None:
    first, second = await cockpit.launch("H5"), await cockpit.launch("H7")
    await placed(cockpit, first, (0,))
    await placed(cockpit, second, (1,))
    third, fourth = await cockpit.launch("H4"), await cockpit.launch("H1")
    await queued(cockpit, third, 1)
    await queued(cockpit, fourth, 2)
    await cockpit.discard()
    cockpit.start()
    await cockpit.supervisor_polls(3)
    assert [(r.id, r.state, r.gpus) for r in cockpit.client.active_runs()] == [
        (first, "running", (0,)), (second, "running", (1,)),
        (third, "queued", ()), (fourth, "queued", ()),
    ]  # fmt: skip
    cockpit.client.submit_request(StopRequest(run_id=first), "test")
    await placed(cockpit, third, (0,))  # launch order: the earlier launch first
    assert run_of(cockpit, fourth).state == "queued"
    cockpit.client.submit_request(StopRequest(run_id=second), "test")
    assert (await cockpit.ended(fourth)).state == "succeeded"  # H1 on GPU 1, to its end
    assert run_of(cockpit, fourth).gpus == (1,)


async def test_a_host_sets_up_once_per_commit_when_asked(
    tmp_path: Path, server: SshTestServer
) -> None:
    """`setup_once_per_commit`: the second run of a commit on a host skips the setup that
    passed for the first; another commit (or the same setup with the key off) sets up again."""
    import getpass
    import subprocess

    from backends.base import RunSpec
    from backends.ssh import SshBackend
    from backends.ssh_conn import SshHost

    project = write_project(tmp_path / "repo")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    commits = []
    for message in ("one", "two"):
        (project / "note.txt").write_text(message)
        for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", message]):
            subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
        commits.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                                      capture_output=True, text=True).stdout.strip())  # fmt: skip
    work = tmp_path / "host" / "work"
    setups = work / "setups.txt"
    host = SshHost("lab", "127.0.0.1", server.port, getpass.getuser(), [server.key_file],
                   str(server.known_hosts))  # fmt: skip

    async def run(backend: SshBackend, run_id: str, commit: str) -> str:
        spec = RunSpec(
            run_id=run_id, hypothesis="H1", plan="hypotheses.md", command="true",
            setup=f'echo "$COCKPIT_RUN_ID" >> {setups}', workdir=str(project), commit=commit,
        )  # fmt: skip
        handle = await backend.launch(spec)
        run_dir = Path(handle.run_dir)
        await async_wait_for(lambda: (run_dir / "exit_code").exists(), what=run_id)
        return (run_dir / "onstart.log").read_text()

    once = SshBackend("lab", host, project, workdir=str(work), setup_once_per_commit=True)
    assert "[cockpit] setup done" in await run(once, "h1-first", commits[0])
    skipped = await run(once, "h1-second", commits[0])
    assert "[cockpit] setup: skipped, it passed on this host for this commit" in skipped
    assert "[cockpit] setup done" in await run(once, "h1-other", commits[1])
    every = SshBackend("lab", host, project, workdir=str(work))
    assert "[cockpit] setup done" in await run(every, "h1-again", commits[0])
    assert setups.read_text().split() == ["h1-first", "h1-other", "h1-again"]
    await once.close()
    await every.close()


@pytest.mark.timeout(120)
async def test_a_paused_plan_takes_a_queued_run_out_when_its_turn_comes(
    cockpit: Cockpit,
) -> None:
    """The guards are checked again when a queued run's turn comes: the plan paused meanwhile
    ends it unstarted, with the reason."""
    first, second = await cockpit.launch("H5"), await cockpit.launch("H7")
    await placed(cockpit, first, (0,))
    await placed(cockpit, second, (1,))
    third = await cockpit.launch("H4")
    await queued(cockpit, third, 1)
    plan = cockpit.project / "hypotheses.md"
    plan.write_text(plan.read_text().replace("State: in_progress", "State: paused"))
    cockpit.client.submit_request(StopRequest(run_id=first), "test")
    left = await cockpit.ended(third)
    assert (left.state, left.detail) == (
        "stopped",
        "left the queue unstarted: plan state is paused",
    )
    assert left.handle is None


@pytest.fixture
async def second_server(tmp_path: Path) -> AsyncIterator[SshTestServer]:
    server = SshTestServer(tmp_path / "host2", gpus=1)
    await server.start()
    yield server
    await server.kill()


def pool_project(
    tmp_path: Path, server: SshTestServer, second_server: SshTestServer, extra: str = ""
) -> Path:
    """A project whose default backend is the pool `lab` of lab1 (`server`) and lab2."""
    lab1 = ssh_toml(server, tmp_path / "host" / "work").replace("[backends.lab]", "[backends.lab1]")
    lab2 = ssh_toml(second_server, tmp_path / "host2" / "work")
    lab2 = lab2.replace("[backends.lab]", "[backends.lab2]")
    return write_project(
        tmp_path / "proj",
        lab1 + lab2 + '[backends.lab]\nkind = "pool"\npool = ["lab1", "lab2"]\n' + extra,
        'default_backend = "lab"\nmax_parallel = 4\n',
    )


async def stop_all(cockpit: Cockpit) -> None:
    for active in cockpit.client.active_runs():
        cockpit.client.submit_request(StopRequest(run_id=active.id), "test")
    await async_wait_for(lambda: not cockpit.client.active_runs(), what="every run stopped")


@pytest.mark.timeout(120)
async def test_a_pool_places_on_the_first_host_with_room(
    tmp_path: Path, server: SshTestServer, second_server: SshTestServer
) -> None:
    """`kind = "pool"` over lab1 (2 GPUs) and lab2 (1 GPU): runs fill lab1, then lab2; a
    fourth waits for either; each run's run directory is on the host it was placed on."""
    project = pool_project(tmp_path, server, second_server)
    config = project / "cockpit.toml"  # the command names its run directory: the host's
    command = next(line for line in config.read_text().splitlines() if line.startswith("command"))
    config.write_text(config.read_text().replace(command, command[:-1] + ' {run_dir}"'))
    cockpit = Cockpit(project)
    cockpit.start()
    try:
        ids = [await cockpit.launch(h) for h in ("H5", "H7", "H4", "H1")]
        where = []
        for run_id in ids[:3]:
            run = await async_wait_for(
                lambda run_id=run_id: (r := run_of(cockpit, run_id)).state == "running" and r,
                what=f"{run_id} running",
            )
            where.append((run.host, run.gpus, run.backend))  # type: ignore[union-attr]
        assert where == [("lab1", (0,), "lab1"), ("lab1", (1,), "lab1"), ("lab2", (0,), "lab2")]
        third = run_of(cockpit, ids[2])
        assert str(third.handle["run_dir"]).startswith(str(tmp_path / "host2"))  # type: ignore[index]
        assert third.spec["command"].endswith(f" {third.handle['run_dir']}")  # type: ignore[index]
        waiting = await queued(cockpit, ids[3], 1)
        assert "(lab1: 0 of 2 free; lab2: 0 of 1 free)" in waiting.detail
        assert waiting.backend == "lab"  # the pool, until it is placed
        cockpit.client.submit_request(StopRequest(run_id=ids[2]), "test")
        assert (await cockpit.ended(ids[3])).state == "succeeded"  # on lab2's freed GPU
        assert run_of(cockpit, ids[3]).host == "lab2"
        assert run_of(cockpit, ids[3]).pool == "lab"
        # A relaunch goes to the pool again, not to the host the run ended on: with lab1 full
        # again, the relaunch of a run that ran on lab1 lands on lab2.
        from cockpit.core.protocol import RelaunchRequest

        cockpit.client.submit_request(StopRequest(run_id=ids[0]), "test")
        await cockpit.ended(ids[0])
        cockpit.client.submit_request(StopRequest(run_id=ids[1]), "test")  # lab1 GPU 1 frees
        await cockpit.ended(ids[1])
        await cockpit.launch("H7")  # lab1 GPU 0
        await cockpit.launch("H4")  # lab1 GPU 1: lab1 is full
        request = cockpit.client.submit_request(RelaunchRequest(ids[0]), "test")
        again = await async_wait_for(
            lambda: (r := cockpit.client.request(request)) and r.run_id, what="the relaunch"
        )
        relaunched = await async_wait_for(
            lambda: (r := run_of(cockpit, str(again))).state == "running" and r, what="it runs"
        )
        assert (relaunched.host, relaunched.pool) == ("lab2", "lab")  # type: ignore[union-attr]
        assert relaunched.gpus == (0,)  # type: ignore[union-attr]
    finally:
        await stop_all(cockpit)
        await cockpit.discard()


@pytest.mark.timeout(60)
async def test_a_run_no_host_could_ever_take_is_refused_at_launch(cockpit: Cockpit) -> None:
    from cockpit.core.protocol import LaunchRequest

    supervisor = cockpit.supervisor
    assert supervisor is not None
    await async_wait_for(lambda: "lab" in supervisor.gpu_hosts.answers, what="the host's GPUs")
    plan = cockpit.project / "hypotheses.md"
    plan.write_text(plan.read_text().replace(
        "- [ ] H8: diverges", "- [ ] H8: diverges\n- [ ] H9: needs four GPUs (gpus: 4)"
    ))  # fmt: skip
    request_id = cockpit.client.submit_request(LaunchRequest("H9"), "test")
    request = await async_wait_for(
        lambda: (r := cockpit.client.request(request_id)) and r.status != "pending" and r,
        what="the answer",
    )
    assert request.status == "refused"  # type: ignore[union-attr]
    assert request.result == (  # type: ignore[union-attr]
        "H9 on lab: never placeable: 4 free GPUs on one host, and no host has that many"
    )
    assert not cockpit.client.runs()


@pytest.mark.timeout(120)
async def test_a_pool_member_that_cannot_be_asked_holds_nothing_back(
    tmp_path: Path, server: SshTestServer, second_server: SshTestServer
) -> None:
    project = pool_project(tmp_path, server, second_server)
    await server.kill()  # lab1 is down: it cannot be asked for its GPUs
    cockpit = Cockpit(project)
    cockpit.start()
    try:
        first, second = await cockpit.launch("H5"), await cockpit.launch("H7")
        run = await async_wait_for(
            lambda: (r := run_of(cockpit, first)).state == "running" and r, what="H5 on lab2"
        )
        assert (run.host, run.gpus) == ("lab2", (0,))  # type: ignore[union-attr]
        waiting = await queued(cockpit, second, 1)
        assert "(lab2: 0 of 1 free); cannot ask for GPUs: lab1: " in waiting.detail
    finally:
        await stop_all(cockpit)
        await cockpit.discard()


@pytest.mark.timeout(120)
async def test_an_automatic_relaunch_is_placed_on_the_pool_again(
    tmp_path: Path, server: SshTestServer, second_server: SshTestServer
) -> None:
    recover = '[recover]\non = ["crash"]\nmax_attempts = 2\nbackoff_seconds = 0\n'
    project = pool_project(tmp_path, server, second_server, recover)
    cockpit = Cockpit(project)
    cockpit.start()
    try:
        first = await cockpit.launch("H2")  # raises: a crash, relaunched once
        relaunched = await async_wait_for(
            lambda: next((r for r in cockpit.client.runs() if r.parent == first), None),
            what="the relaunch",
        )
        ended = await cockpit.ended(relaunched.id)  # type: ignore[union-attr]
        assert (ended.attempt, ended.pool, ended.state) == (2, "lab", "failed")
        assert run_of(cockpit, first).pool == "lab"
    finally:
        await cockpit.discard()
