"""No automatic relaunch starts before the previous attempt is verified gone (issue 14,
finding 2): while the wrap-up's terminate is held, the due relaunch stays pending."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.core.protocol import LaunchRequest, RunState, Stage
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for
from tests.fakebackend import FakeBackend, FakeCloud, fake_supervisor
from tests.test_fault_matrix import CONFIG, PLAN


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, StoreReader, FakeCloud]]:
    cloud = FakeCloud(behaviour={"H2": "killed-first"})
    async with fake_supervisor(tmp_path / "proj", PLAN, CONFIG, cloud) as (supervisor, client):
        yield supervisor, client, cloud


async def test_a_relaunch_waits_for_the_previous_attempt_to_be_gone(setup) -> None:  # type: ignore[no-untyped-def]
    supervisor, client, cloud = setup
    backend = supervisor.backends["local"]
    assert isinstance(backend, FakeBackend)
    backend.hold("stop")  # the wrap-up's terminate will hang at the provider
    request = client.submit_request(LaunchRequest("H2"), "t")
    await async_wait_for(lambda: client.request(request).run_id, what="H2 launched")  # type: ignore[union-attr]
    first = str(client.request(request).run_id)  # type: ignore[union-attr]
    await async_wait_for(backend.waiting["stop"].is_set, what="the terminate held")
    run = client.run(first)
    assert run is not None and run.state == RunState.FAILED and run.stage is Stage.WRAP_UP
    due = [r for r in client.pending_requests(now=supervisor.ctx.clock()) if r.kind == "relaunch"]
    assert len(due) == 1  # due now (backoff 0), yet ...
    polls = supervisor.polls
    await async_wait_for(lambda: supervisor.polls >= polls + 5, what="five polls")
    assert [r.id for r in client.runs()] == [first]  # ... not started while the first may run
    backend.release("stop")
    child = await async_wait_for(
        lambda: next((r for r in client.runs() if r.parent == first), None), what="the relaunch"
    )
    assert child.attempt == 2  # type: ignore[union-attr]
    assert cloud.terminated[0] == first
