"""Last words (issue 14, finding 1): however a run ends — stopped, capped, timed out, crashed,
succeeded — its mirror equals its own `train.log`, including what a trainer writes in its SIGTERM
handler after the stop and a burst printed just before it exits; on the local backend and on the
SSH backend against the in-process server."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backends.base import RunPhase
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import RunState
from cockpit.core.records import RunRecord
from tests.conftest import async_wait_for, write_project
from tests.fake_runpod import KEY, FakeRunPod
from tests.harness import FakeClock, Harness
from tests.sshserver import SshTestServer
from tests.test_runpod import pod_toml
from tests.test_ssh_backend import ssh_toml

TRAINER = """
import os, signal, sys, time
mode = sys.argv[1].upper()

def burst(word):
    for i in range(3000):
        print(f"{word} {i} " + "x" * 40)
    sys.stdout.flush()

def saving(signum, frame):
    print("saving checkpoint", flush=True)
    time.sleep(0.5)  # a checkpoint takes a while to write
    burst("flushing")
    print("checkpoint saved", flush=True)
    sys.exit(0)

print("step 1", flush=True)
if mode == "H1":  # succeeds
    burst("epoch")
    run_dir = os.environ["COCKPIT_RUN_DIR"]
    open(os.path.join(run_dir, "best.pt"), "wb").write(b"w")
    open(os.path.join(run_dir, "metrics.json"), "w").write('{"val_loss": 0.5}')
    print("done", flush=True)
elif mode == "H2":  # crashes
    burst("epoch")
    raise RuntimeError("boom: the model exploded")
else:  # runs until it is stopped, and says goodbye
    open(os.path.join(os.environ["COCKPIT_RUN_DIR"], "trainer.pid"), "w").write(str(os.getpid()))
    signal.signal(signal.SIGTERM, saving)
    while True:
        time.sleep(0.05)
"""

ENDINGS = {
    # ending: (hypothesis, extra config, expected state, failure class)
    "stop": ("H5", "", RunState.STOPPED, None),
    "cap": ("H5", "[cost]\nrun_cap = 1.0\n", RunState.CAP_EXCEEDED, None),
    "timeout": (
        "H5", "[health]\nexpected_minutes = 1\nstop_on_timeout = true\n", RunState.FAILED,
        "timeout",
    ),
    "crash": ("H2", "", RunState.FAILED, "crash"),
    "success": ("H1", "", RunState.SUCCEEDED, None),
}  # fmt: skip


class World:
    """Where the run goes: this machine, an SSH host, or a RunPod pod whose machine goes away
    when the pod is stopped or terminated (its SSH server dies with it)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.server = SshTestServer(tmp_path / "host") if kind != "local" else None
        self.fake: FakeRunPod | None = None

    def toml(self, tmp_path: Path) -> tuple[str, str]:
        if self.server is None:
            return "", ""
        if self.kind == "ssh":
            return 'default_backend = "lab"\n', ssh_toml(self.server, tmp_path / "host" / "work")
        return 'default_backend = "pod"\n', pod_toml(self.server, tmp_path / "host" / "work")

    def an_hour_later(self, clock: FakeClock) -> None:
        clock.offset = 3600.0
        if self.fake is not None:
            self.fake.uptime_offset_s = 3600.0  # the pod's uptime is RunPod's to say


@pytest.fixture(params=["local", "ssh", "runpod"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    world = World(request.param, tmp_path)
    if world.server is not None:
        await world.server.start()
    if request.param == "runpod":
        assert world.server is not None
        world.fake = FakeRunPod(ssh_port=world.server.port)
        monkeypatch.setenv("RUNPOD_API_BASE_URL", world.fake.start())
        monkeypatch.setenv("RUNPOD_API_KEY", KEY)
        loop, server = asyncio.get_running_loop(), world.server
        world.fake.on_gone = lambda pod: asyncio.run_coroutine_threadsafe(
            server.kill(), loop
        ).result(10)
    yield world
    if world.fake is not None:
        world.fake.stop()
    if world.server is not None:
        await world.server.kill()


@pytest.fixture
def project_for(world: World, tmp_path: Path) -> Callable[[str], Path]:
    script = tmp_path / "graceful.py"
    script.write_text(TRAINER)

    def make(extra: str) -> Path:
        top, backend = world.toml(tmp_path)
        project = write_project(tmp_path / "proj", extra + backend, top)
        config = project / "cockpit.toml"
        lines = config.read_text().splitlines()
        lines[len(top.splitlines())] = (
            f'command = "{shlex.quote(sys.executable)} {script} {{hypothesis}}"'
        )
        config.write_text("\n".join(lines) + "\n")
        return project

    return make


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_the_mirror_equals_the_runs_own_log_however_it_ends(
    world: World, project_for: Callable[[str], Path], ending: str
) -> None:
    hypothesis, extra, state, failure = ENDINGS[ending]
    h = Harness(project_for(extra), FakeClock())
    h.task = asyncio.create_task(h.supervisor.run_forever(idle_exit_s=3600))
    try:
        run_id = await h.launch(hypothesis)
        mirror = ProjectPaths(h.project).mirror_log(run_id, "train")
        await async_wait_for(
            lambda: mirror.exists() and "step 1" in mirror.read_text(), what="step 1"
        )
        if ending == "stop":
            status, _, _ = await h.answer(h.request("stop", run_id=run_id))
            assert status == "done"
        elif ending in ("cap", "timeout"):
            world.an_hour_later(h.clock)  # over a $1 cap; 60x the expected time
        run = await h.ended(run_id)
        assert (run.state, run.failure_class) == (state, failure), run.detail
        assert run.handle is not None
        own = (Path(run.handle["run_dir"]) / "train.log").read_bytes()
        if hypothesis == "H5":
            assert own.endswith(b"flushing 2999 " + b"x" * 40 + b"\ncheckpoint saved\n")
        assert mirror.read_bytes() == own
    finally:
        h.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await h.task


async def test_a_wrapper_that_dies_first_does_not_end_the_mirror(
    world: World, project_for: Callable[[str], Path]
) -> None:
    """The `sh` wrapper killed (the OOM killer, a stray `kill`) while the trainer lives on: the
    streams end when the whole process group is gone, not when the wrapper is."""
    h = Harness(project_for("[recover]\non = []\n"), FakeClock())
    h.task = asyncio.create_task(h.supervisor.run_forever(idle_exit_s=3600))
    try:
        run_id = await h.launch("H5")
        mirror = ProjectPaths(h.project).mirror_log(run_id, "train")
        run = await async_wait_for(
            lambda: (found := h.client.run(run_id)) and found.handle and found, what="a handle"
        )
        assert isinstance(run, RunRecord) and run.handle is not None
        run_dir = Path(run.handle["run_dir"])
        await async_wait_for(
            lambda: (run_dir / "trainer.pid").exists() and "step 1" in mirror.read_text(),
            what="the trainer",
        )
        os.kill(int(run.handle["data"]["pid"]), signal.SIGKILL)  # the wrapper alone
        tracked = h.supervisor.pumps.get(run_id)
        assert tracked is not None
        await async_wait_for(lambda: tracked.phase is RunPhase.EXITED, what="the wrapper gone")
        polls = h.supervisor.polls  # long enough for streams that would end to have ended
        await async_wait_for(lambda: h.supervisor.polls >= polls + 15, what="15 polls")
        os.kill(int((run_dir / "trainer.pid").read_text()), signal.SIGTERM)
        ended = await h.ended(run_id)
        assert ended.state == RunState.FAILED
        own = (run_dir / "train.log").read_bytes()
        assert own.endswith(b"checkpoint saved\n")
        assert mirror.read_bytes() == own
    finally:
        h.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await h.task
