"""The fault-injection matrix: a supervisor abandoned at every await point of the launch, stop,
auto-recover and finish paths (as SIGKILL leaves it: no `finally`, no cleanup), then a fresh
supervisor on the same store and the same (fake) cloud.

Each supervisor runs in a thread with its own event loop. At the chosen point the loop is
stopped and never resumed or closed: its tasks stay suspended where they were, their `finally`
blocks never run (the loops are kept referenced so nothing is garbage-collected either). After
the restart: no run stays active without a live resource (or a task carrying its launch or
stop) after two polls; the other run's cost cap is enforced; nothing the fake created is left
billing; every result is written exactly once; every mirror equals the run's own log.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from backends.base import LogSource
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, RunState, Stage, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from cockpit.supervisor.context import KILL_POINTS, LOOP_KILL_POINTS
from tests.conftest import wait_for
from tests.fakebackend import FakeBackend, FakeCloud

PLAN = """# matrix — the fake cloud

State: in_progress

## Hypotheses
- [ ] H1: succeeds (threshold: val_loss <= 0.6)
- [ ] H2: killed by the provider once, then succeeds
- [ ] H5: runs until stopped
- [ ] H9: runs until its cap (cap: $5)

## Iteration log
| iter | start | hypothesis | run_id | verdict | result |
|---|---|---|---|---|---|
"""

CONFIG = """command = "train {hypothesis}"
max_parallel = 3
[backends.local]
kind = "local"
slots = 4
[supervisor]
poll_seconds = 0.05
stop_grace_seconds = 0
[recover]
on = ["killed"]
max_attempts = 2
backoff_seconds = 0
"""

BEHAVIOUR = {"H1": "steps=3", "H2": "killed-first", "H5": "forever", "H9": "forever"}
ABANDONED: list[Any] = []
"""Loops of abandoned supervisors: kept so their suspended tasks are never collected (which
would run their `finally` blocks, as SIGKILL never does)."""


def placed(backend: FakeBackend) -> FakeBackend:
    """The fake cloud as a host cockpit places runs on (slots: it reports no GPU), so every
    launch of the matrix goes through the queue (issue 20) and `launch.queued` is killed at."""
    backend.places_runs = True
    return backend


def write_matrix_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "hypotheses.md").write_text(PLAN, encoding="utf-8")
    (root / "cockpit.toml").write_text(CONFIG, encoding="utf-8")
    return root


class Runner:
    """One supervisor in a thread of its own; `kill_at` abandons it at that point once armed."""

    def __init__(self, project: Path, cloud: FakeCloud, kill_at: str | None = None) -> None:
        self.project = project
        self.cloud = cloud
        self.kill_at = kill_at
        self.armed = threading.Event()
        self.killed = threading.Event()
        self.started = threading.Event()
        self.supervisor: Supervisor | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        self.started.wait(10)

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        ABANDONED.append(loop)
        asyncio.set_event_loop(loop)
        supervisor = self.supervisor = Supervisor(
            self.project,
            load_config(self.project),
            backend_factory=lambda name, config, paths, clock: placed(
                FakeBackend(name, self.cloud)
            ),
        )

        async def hook(name: str) -> None:
            if name == self.kill_at and self.armed.is_set():
                self.killed.set()
                loop.stop()  # the process is gone: nothing after this line ever runs
                await asyncio.Future()

        supervisor.ctx.checkpoint.hook = hook
        self.task = loop.create_task(supervisor.run_forever(idle_exit_s=3600))
        self.started.set()
        # Stopped mid-flight (abandoned: RuntimeError), or cancelled by `stop`.
        with contextlib.suppress(RuntimeError, asyncio.CancelledError):
            loop.run_until_complete(self.task)

    @property
    def polls(self) -> int:
        return self.supervisor.polls if self.supervisor else 0

    def running_task(self, run_id: str) -> bool:
        assert self.supervisor is not None
        tasks = self.supervisor.ctx.tasks
        return tasks.running(f"launch:{run_id}") or tasks.running(f"stop:{run_id}")

    def stop(self) -> None:
        if self.loop is not None and self.task is not None and not self.killed.is_set():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)


def _launch(client: StoreReader, hypothesis: str) -> str:
    request_id = client.submit_request(LaunchRequest(hypothesis), "test")

    def launched() -> object:
        request = client.request(request_id)
        return request is not None and request.status == "done" and request.run_id

    return str(wait_for(launched, what=f"{hypothesis} launched"))


def _state(client: StoreReader, run_id: str) -> RunState | None:
    run = client.run(run_id)
    return run.state if run else None


def _scenario_of(point: str) -> str:
    return point.split(".")[0]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_supervisor_killed_here_is_completed_by_the_next(point: str, tmp_path: Path) -> None:
    project = write_matrix_project(tmp_path / "proj")
    paths = ProjectPaths(project)
    cloud = FakeCloud(rate_per_hour=3600.0, behaviour=BEHAVIOUR)  # $1 per billed second
    first = Runner(project, cloud, kill_at=point)
    second: Runner | None = None
    try:
        client = StoreReader(paths.db)
        capped = _launch(client, "H9")  # the other run, whose cap must hold throughout
        wait_for(lambda: _state(client, capped) == RunState.RUNNING, what="H9 running")
        first.armed.set()
        scenario = _scenario_of(point)
        if scenario == "stop":
            stopped = _launch(client, "H5")
            wait_for(lambda: _state(client, stopped) == RunState.RUNNING, what="H5 running")
            client.submit_request(StopRequest(stopped), "test")
        else:
            _launch(client, "H2" if scenario == "recover" else "H1")
        assert first.killed.wait(30), f"the supervisor never reached {point}"
        first.thread.join(10)
        assert not first.thread.is_alive()

        second = Runner(project, cloud)
        wait_for(lambda: second.polls >= 2, what="two polls of the new supervisor")
        for run in client.active_runs():
            resource = cloud.resources.get(run.id)
            live = resource is not None and resource.alive and not resource.terminated
            assert live or second.running_task(run.id), f"{run.id} is {run.state} with nothing"

        cloud.uptime[capped] = 10.0  # $10 billed: past H9's $5 cap
        wait_for(lambda: _state(client, capped) == RunState.CAP_EXCEEDED, what="H9 capped")

        def settled() -> bool:
            runs = client.runs()
            if scenario == "recover" and not any(r.parent for r in runs):
                return False  # the relaunch is still due
            return all(not r.active and r.stage is Stage.DONE for r in runs)

        wait_for(settled, what="every run ended and wrapped up")
        runs = client.runs()
        assert cloud.running() == [], "something the fake created is still billing"
        assert len(cloud.created) == len(set(cloud.created)), "a run got two resources"
        assert set(cloud.created) <= {run.id for run in runs}
        plan_text = (project / "hypotheses.md").read_text()
        for run in runs:
            assert plan_text.count(run.id) == 1, f"{run.id}: not exactly one iteration-log row"
            resource = cloud.resources.get(run.id)
            if resource is not None:
                mirror = paths.mirror_log(run.id, "train").read_bytes()
                assert mirror == bytes(resource.logs[LogSource.TRAIN])
        assert len(list(project.glob("iter*_result.md"))) == len(runs)
        assert not any(run.parent == capped for run in runs)  # a capped run never relaunches
        by_hypothesis = {run.hypothesis: run for run in reversed(runs)}  # newest wins
        if scenario == "recover":
            h2 = [run for run in runs if run.hypothesis == "H2"]
            assert sorted(run.attempt for run in h2) == [1, 2]  # exactly one relaunch
            assert by_hypothesis["H2"].state == RunState.SUCCEEDED
        elif scenario == "stop":
            assert by_hypothesis["H5"].state == RunState.STOPPED
        elif point in ("launch.created", "launch.preflight"):
            h1 = by_hypothesis["H1"]
            assert (h1.state, h1.failure_class) == (RunState.FAILED, "interrupted")
            assert "pre-flight interrupted" in h1.detail
        else:
            assert by_hypothesis["H1"].state == RunState.SUCCEEDED
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_every_checkpoint_in_the_code_is_in_the_matrix() -> None:
    """A new await point on these paths must be listed (and so killed at) to pass."""
    named: set[str] = set()
    folder = Path(__file__).parent.parent / "cockpit" / "supervisor"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "checkpoint"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                named.add(node.args[0].value)
    assert named == set(KILL_POINTS) | set(LOOP_KILL_POINTS)
    assert len(KILL_POINTS) == len(set(KILL_POINTS))
    assert not set(KILL_POINTS) & set(LOOP_KILL_POINTS)  # the loop's are in tests/test_loop.py
