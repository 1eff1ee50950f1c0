"""Issue 21's soak test: runs launched and stopped on RunPod for most of a minute while seeded,
bounded random API faults hit every operation (rate limits, 5xx, HTML 502 pages, timeouts,
"Something went wrong" after the action happened, pods missing from the list, terminates that
answer OK and do nothing). It ends with exactly the pods it should have had, and none left."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from backends import runpod
from cockpit.core.protocol import LaunchRequest, StopRequest
from tests.conftest import async_wait_for
from tests.fake_runpod import FakeRunPod, Fault
from tests.test_runpod import Cockpit, cockpit  # noqa: F401 - the fixture

SOAK_S = 45.0
KINDS = {
    "pods": ["429", "500-errors", "html-502", "went-wrong", "timeout"],
    "pod": ["html-502", "500-errors"],
    "create": ["429", "html-502", "timeout", "500-errors-after-success",
               "went-wrong-after-success", "timeout-after-success"],
    "stop": ["html-502", "went-wrong-after-success"],
    "terminate": ["html-502", "ignored", "went-wrong-after-success", "timeout-after-success"],
}  # fmt: skip


async def inject(fake: FakeRunPod, seed: int, until: float) -> int:
    rng = random.Random(seed)
    injected = 0
    while time.monotonic() < until:
        op = rng.choice(list(KINDS))
        fault = Fault(op, rng.choice(KINDS[op]), retry_after=str(rng.choice([0, 1])))
        with fake.lock:  # bounded: at most one fault waits for each operation
            if any(f.op == op for f in fake.faults):
                await asyncio.sleep(0.05)
                continue
            fake.faults.append(fault)
            if rng.random() < 0.2 and fake.pods:  # the list forgets a pod for a while
                name = rng.choice([pod["name"] for pod in fake.pods.values()])
                fake.hidden[name] = rng.randint(1, 3)
        injected += 1
        await asyncio.sleep(rng.uniform(0.2, 0.8))  # the fault's pace, not a wait
    return injected


async def answered(cockpit: Cockpit, request_id: str) -> str | None:  # noqa: F811
    def done() -> object:
        found = cockpit.client.request(request_id)
        return found if found and found.status not in ("pending", "running") else None

    found = await async_wait_for(done, timeout=60, what="the launch answered")
    return found.run_id  # type: ignore[attr-defined, no-any-return]


async def going_or_ended(cockpit: Cockpit, run_id: str) -> None:  # noqa: F811
    def ready() -> bool:
        run = cockpit.client.run(run_id)
        return run is not None and (not run.active or run.state == "running")

    await async_wait_for(ready, timeout=90, what=f"{run_id} running or ended")


@pytest.mark.timeout(400)
async def test_a_minute_of_api_faults_leaves_exactly_the_pods_it_should(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runpod, "TERMINATE_WAIT_S", 3.0)
    monkeypatch.setattr(runpod, "LEFTOVER_SPAN_S", 1.0)
    fake.slow_s = 1.0  # a "timeout" answers after the client gave up (0.5 s)
    until = time.monotonic() + SOAK_S
    injector = asyncio.create_task(inject(fake, seed=21, until=until))
    launched: list[str] = []
    while not launched and time.monotonic() < until:
        request = cockpit.client.submit_request(LaunchRequest(hypothesis="H5"), "soak")
        run_id = await answered(cockpit, request)
        if run_id is not None:
            launched.append(run_id)
    assert launched, "no launch was accepted"
    await going_or_ended(cockpit, launched[0])
    while time.monotonic() < until:  # the run lives through the faults (and any relaunch)
        await asyncio.sleep(0.5)  # pacing the soak, not waiting for a condition
    for run in cockpit.client.active_runs():
        cockpit.client.submit_request(StopRequest(run_id=run.id), "soak")
    injected = await injector
    with fake.lock:
        fake.faults.clear()
        fake.hidden.clear()
    for run in cockpit.client.active_runs():
        cockpit.client.submit_request(StopRequest(run_id=run.id), "soak")
    await async_wait_for(
        lambda: all(r.stage in ("done", "write-back") for r in cockpit.client.runs())
        and not cockpit.client.active_runs(),
        timeout=180, what="every run wrapped up",
    )  # fmt: skip
    await async_wait_for(lambda: not fake.pods, timeout=60, what="no pod left")
    runs = {run.id for run in cockpit.client.runs()}
    names = [pod_input["name"] for pod_input in fake.inputs]
    assert len(names) == len(set(names)), names  # never two pods for one run
    assert set(names) <= runs  # every pod created belongs to a run cockpit knows
    assert injected >= 20, injected
    assert cockpit.paths.mirror_log(launched[0], "train").stat().st_size > 0
    assert fake.counts["create"] >= len(names)
