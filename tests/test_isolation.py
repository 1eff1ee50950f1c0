"""One run's or one backend's failure never stops the supervisor from controlling the others:
the error is recorded against the run (an event naming the exception and the run, the
`control-failed` warning), said once more if it repeats, and every cap is still enforced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from backends.base import Observation, RunHandle
from cockpit.core.protocol import LaunchRequest, RunState, RunWarning
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for
from tests.fakebackend import FakeBackend, FakeCloud, fake_supervisor

PLAN = """# isolation

State: in_progress

## Hypotheses
- [ ] H1: poisoned observation (cap: $100000)
- [ ] H2: healthy (cap: $5)
- [ ] H3: on the backend whose observe fails (cap: $1)

## Iteration log
| iter | hypothesis | run_id | verdict |
|---|---|---|---|
"""

CONFIG = """command = "train {hypothesis}"
max_parallel = 3
[backends.local]
kind = "local"
[backends.other]
kind = "local"
[supervisor]
poll_seconds = 0.05
stop_grace_seconds = 0
"""


class PoisonedBackend(FakeBackend):
    """Observes one run with a value no cost can be computed from."""

    poisoned: set[str] = set()

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        found = await super().observe(handles)
        for run_id in self.poisoned & set(found):
            found[run_id] = Observation(found[run_id].phase, cost_per_hour=None)  # type: ignore[arg-type]
        return found


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, StoreReader, FakeCloud]]:
    cloud = FakeCloud(rate_per_hour=3600.0, behaviour={h: "forever" for h in ("H1", "H2", "H3")})
    async with fake_supervisor(tmp_path / "proj", PLAN, CONFIG, cloud, PoisonedBackend) as (
        supervisor,
        client,
    ):
        yield supervisor, client, cloud


async def launch(client: StoreReader, hypothesis: str, backend: str = "local") -> str:
    request_id = client.submit_request(LaunchRequest(hypothesis, backend=backend), "t")
    await async_wait_for(
        lambda: (r := client.request(request_id)) and r.run_id, what=f"{hypothesis} launched"
    )
    run_id = str(client.request(request_id).run_id)  # type: ignore[union-attr]
    await async_wait_for(
        lambda: client.run(run_id).state == RunState.RUNNING,  # type: ignore[union-attr]
        what=f"{hypothesis} running",
    )
    return run_id


async def test_a_failing_run_or_backend_never_stops_another_runs_cap(setup) -> None:  # type: ignore[no-untyped-def]
    supervisor, client, cloud = setup
    poisoned = await launch(client, "H1")
    healthy = await launch(client, "H2")
    elsewhere = await launch(client, "H3", backend="other")
    assert client.run(elsewhere).cost_per_hour == 3600.0  # type: ignore[union-attr]

    PoisonedBackend.poisoned = {poisoned}
    other = supervisor.backends["other"]
    assert isinstance(other, FakeBackend)
    other.fail["observe"] = RuntimeError()  # no message at all
    polls = supervisor.polls
    await async_wait_for(lambda: supervisor.polls >= polls + 10, what="ten polls")

    # The healthy run is still judged: its cap holds.
    cloud.uptime[healthy] = 10.0  # $10 billed, past its $5 cap
    capped = await async_wait_for(
        lambda: client.run(healthy).state == RunState.CAP_EXCEEDED,
        what="the healthy cap",  # type: ignore[union-attr]
    )
    assert capped
    # The run on the failing backend is held to its cap too, by time since its start at the
    # last known rate ($3600/h: its $1 cap is a second away): stopped and terminated, and it
    # stays `stopping` (not verified) until its backend answers again.
    await async_wait_for(lambda: elsewhere in cloud.terminated, what="the blind cap's stop")
    intent = client.run(elsewhere).stop_intent  # type: ignore[union-attr]
    assert intent is not None and intent["state"] == RunState.CAP_EXCEEDED

    run = client.run(poisoned)
    assert run is not None and run.active and RunWarning.CONTROL_FAILED in run.warnings
    alerts = [e.message for e in client.events(poisoned) if e.kind == "alert"]
    assert alerts[0] == f"{poisoned}: health check: TypeError: " + alerts[0].split("TypeError: ")[1]
    assert len(alerts) == 2 and "failed 3 polls in a row the same way" in alerts[1]
    blind = [e.message for e in client.events(elsewhere) if e.kind == "alert"]
    assert blind[0] == f"{elsewhere}: observing on other: RuntimeError"
    assert not any("poll failed" in e.message for e in client.events(None))

    PoisonedBackend.poisoned = set()  # fixed: the warning goes, and it says so once
    await async_wait_for(
        lambda: RunWarning.CONTROL_FAILED not in client.run(poisoned).warnings,  # type: ignore[union-attr]
        what="the warning to clear",
    )
    assert [e.kind for e in client.events(poisoned)].count("recovered") == 1
    del other.fail["observe"]  # the backend answers again: the stop is verified
    await async_wait_for(
        lambda: client.run(elsewhere).state == RunState.CAP_EXCEEDED,  # type: ignore[union-attr]
        what="the blind run to end",
    )
