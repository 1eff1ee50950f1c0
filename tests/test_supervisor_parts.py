"""The supervisor's parts built alone, with fakes: a Context over a real store in a temporary
folder and the fake backend, no Supervisor and no poll loop."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from backends.base import RunSpec
from cockpit.core.config import load_config
from cockpit.core.launch_spec import build_run
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import Guard, RunState, Stage
from cockpit.store.writer import Store
from cockpit.supervisor.context import Checkpoints, Context, PlanCache, Tasks
from cockpit.supervisor.endings import ON_REQUEST, Endings
from cockpit.supervisor.log_pumps import Pumps
from cockpit.supervisor.notify import Notifier
from tests.conftest import async_wait_for, write_project
from tests.fakebackend import FakeBackend, FakeCloud


def context(project: Path, cloud: FakeCloud) -> Context:
    config = load_config(project)
    paths = ProjectPaths(project)
    store = Store(paths.db)
    return Context(
        project=project, paths=paths, store=store, reader=store.reader, config=config,
        backends={"local": FakeBackend("local", cloud)}, clock=lambda: 1000.0,
        notifier=Notifier(config.notify, project), tasks=Tasks(), plans=PlanCache(project),
        checkpoint=Checkpoints(), wake=asyncio.Event(),
    )  # fmt: skip


async def test_endings_stop_a_run_and_wrap_it_up_alone(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj")
    cloud = FakeCloud(behaviour={"H5": "forever"})
    ctx = context(project, cloud)
    pumps = Pumps(ctx)
    endings = Endings(ctx, pumps)
    backend = ctx.backends["local"]
    plan = ctx.plans.get("hypotheses.md")
    assert plan is not None
    hypothesis = plan.hypothesis("H5")
    assert hypothesis is not None
    spec, record = build_run(
        ctx.config, project, hypothesis, "hypotheses.md", "local", backend.run_dir("h5-aaaaaa"),
        "no-git", "h5-aaaaaa", None, 1000.0,
    )  # fmt: skip
    handle = await backend.launch(spec)
    ctx.store.create_run(replace(record, handle=handle.to_json(), state=RunState.RUNNING))
    run = ctx.reader.run(record.id)
    assert run is not None

    held = []  # every await point passed, in order
    ctx.checkpoint.hook = lambda name: _record(held, name)
    endings.begin_stop(run, ON_REQUEST)
    await async_wait_for(
        lambda: (r := ctx.reader.run(record.id)) is not None and r.stage is Stage.DONE,
        what="the stop and its wrap-up",
    )
    ended = ctx.reader.run(record.id)
    assert ended is not None and ended.state == RunState.STOPPED
    assert ended.guard_kind is Guard.STOPPED_ON_REQUEST and ended.stop_intent is None
    assert cloud.running() == [] and cloud.terminated == [record.id]
    assert held == [
        "stop.before-backend", "stop.backend-stopped", "stop.verified", "stop.drained",
        "finish.recorded", "finish.terminated", "finish.before-write-back", "finish.written",
    ]  # fmt: skip
    assert (project / "hypotheses.md").read_text().count(record.id) == 1
    assert RunSpec.from_json(ended.spec) == spec


async def _record(held: list[str], name: str) -> None:
    held.append(name)
