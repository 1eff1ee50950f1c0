"""The supervisor in-process: requests run once, runs reach the right state, logs are whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, RelaunchRequest, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for
from tests.readings import metric_count


@pytest.fixture
async def running(project: Path) -> AsyncIterator[tuple[Supervisor, StoreReader]]:
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    yield supervisor, client
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for run in client.active_runs():  # never leave a process behind
        if run.handle:
            from backends.base import RunHandle

            await supervisor.backends[run.backend].stop(RunHandle.from_json(run.handle), 1)


async def finished(client: StoreReader, request_id: str) -> str:
    def done() -> object:
        request = client.request(request_id)
        return request if request and request.status not in ("pending", "running") else None

    request = await async_wait_for(done, what=f"request {request_id}")
    return request.run_id or request.result  # type: ignore[union-attr]


async def terminal(client: StoreReader, run_id: str) -> str:
    def ended() -> object:
        run = client.run(run_id)
        return run.state if run and not run.active else None

    return str(await async_wait_for(ended, what=f"run {run_id} to end"))


async def test_launch_to_success_with_metrics_and_artifacts(running, project: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    run_id = await finished(client, client.submit_request(LaunchRequest(hypothesis="H1"), "t"))
    assert await terminal(client, run_id) == "succeeded"
    run = client.run(run_id)
    assert run is not None and run.exit_code == 0 and run.commit
    assert run.cost_per_hour == 3.6 and run.cost_so_far > 0
    paths = ProjectPaths(project)
    train = paths.mirror_log(run_id, "train").read_text()
    assert train == (paths.runs / run_id / "run" / "train.log").read_text()
    assert "setting up" in paths.mirror_log(run_id, "onstart").read_text()
    assert client.metrics.series(run_id, "step") == [float(i) for i in range(20)]
    assert client.metrics.stats(run_id, "val_loss") == (0.5, 0.5, 0.5)
    assert sorted(p.name for p in paths.artifacts(run_id).iterdir()) == ["best.pt", "metrics.json"]
    kinds = [event.kind for event in client.events(run_id)]
    assert kinds[0] == "launch" and "succeeded" in kinds


@pytest.mark.parametrize(
    ("hypothesis", "detail"),
    [
        ("H2", "crash: exit code 1: RuntimeError: boom: the model exploded"),
        ("H3", "no-artifacts: exit 0 but missing best.pt, metrics.json"),
    ],
)
async def test_failures(running, hypothesis: str, detail: str) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    run_id = await finished(
        client, client.submit_request(LaunchRequest(hypothesis=hypothesis), "t")
    )
    assert await terminal(client, run_id) == "failed"
    run = client.run(run_id)
    assert run is not None and run.detail == detail


async def test_stop_terminates_and_a_second_stop_is_refused(running, project: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    run_id = await finished(client, client.submit_request(LaunchRequest(hypothesis="H5"), "t"))
    await async_wait_for(lambda: metric_count(client, run_id) > 3, what="metrics")
    stop = client.submit_request(StopRequest(run_id=run_id), "t")
    assert await finished(client, stop) == run_id
    run = client.run(run_id)
    assert run is not None and run.state == "stopped" and run.ended_at is not None
    again = client.submit_request(StopRequest(run_id=run_id), "t")
    await finished(client, again)
    refused = client.request(again)
    assert refused is not None and refused.status == "refused"
    assert refused.result == f"run {run_id} is already stopped"


async def test_requests_are_executed_once(running) -> None:  # type: ignore[no-untyped-def]
    supervisor, client = running
    request_id = client.submit_request(LaunchRequest(hypothesis="H1"), "t")
    run_id = await finished(client, request_id)
    request = client.request(request_id)
    assert request is not None
    await supervisor.execute_request(request)  # a second attempt finds it claimed
    runs = [run for run in client.runs() if run.request_id == request_id]
    assert [run.id for run in runs] == [run_id]


async def test_a_running_hypothesis_is_not_launched_twice(running) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    first = await finished(client, client.submit_request(LaunchRequest(hypothesis="H5"), "t"))
    second = client.submit_request(LaunchRequest(hypothesis="H5"), "t")
    await finished(client, second)
    request = client.request(second)
    assert request is not None and request.status == "refused"
    assert request.result == f"H5 is already running as {first}"


async def test_unknown_hypothesis_is_refused_with_the_reason(running) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    request_id = client.submit_request(LaunchRequest(hypothesis="H9"), "t")
    await finished(client, request_id)
    request = client.request(request_id)
    assert (
        request is not None and request.status == "refused" and "no hypothesis H9" in request.result
    )


async def test_relaunch_starts_a_new_run_of_the_same_hypothesis(running) -> None:  # type: ignore[no-untyped-def]
    _, client = running
    first = await finished(client, client.submit_request(LaunchRequest(hypothesis="H2"), "t"))
    await terminal(client, first)
    second = await finished(client, client.submit_request(RelaunchRequest(run_id=first), "t"))
    assert second != first
    run = client.run(second)
    assert run is not None and run.hypothesis == "H2"


async def test_the_supervisor_goes_idle_when_its_runs_are_gone(project: Path) -> None:
    from backends.base import RunHandle

    supervisor = Supervisor(project, load_config(project))
    client = StoreReader(ProjectPaths(project).db)
    request = client.submit_request(LaunchRequest(hypothesis="H5"), "t")
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=0.5))
    run_id = await finished(client, request)
    await async_wait_for(lambda: metric_count(client, run_id) > 2, what="H5 running")
    run = client.run(run_id)
    assert run is not None and run.handle is not None
    client.conn.execute("DELETE FROM runs")  # the store forgot it (the run is now an orphan)
    try:
        await asyncio.wait_for(task, timeout=30)  # nothing left to watch: it exits by itself
        assert supervisor.tracked == {}
    finally:
        await supervisor.backends["local"].stop(RunHandle.from_json(run.handle), 1)
