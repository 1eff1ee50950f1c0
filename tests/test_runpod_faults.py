"""Remote faults never leave money burning (issue 21), against the loopback RunPod fake with
the in-process SSH server behind its pods. Each test ends with the fake's pod list empty and
counts the requests it made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends import runpod, runpod_api
from cockpit.core.protocol import RunWarning, StopRequest
from tests.conftest import async_wait_for
from tests.fake_runpod import FakeRunPod, Fault
from tests.readings import metric_count
from tests.test_runpod import Cockpit, cockpit  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("cockpit")


async def running(cockpit: Cockpit, run_id: str) -> None:  # noqa: F811
    await async_wait_for(lambda: metric_count(cockpit.client, run_id) > 2, what="the run going")


async def polls_later(cockpit: Cockpit, count: int) -> None:  # noqa: F811
    assert cockpit.supervisor is not None
    target = cockpit.supervisor.polls + count
    await async_wait_for(lambda: cockpit.supervisor.polls >= target, what=f"{count} polls")  # type: ignore[union-attr]


async def end_every_run(cockpit: Cockpit, fake: FakeRunPod) -> None:  # noqa: F811
    """Stop what is still active (an automatic relaunch) and wait until no pod is left."""
    for other in cockpit.client.active_runs():
        cockpit.client.submit_request(StopRequest(run_id=other.id), "test")
        await cockpit.ended(other.id)
    await async_wait_for(lambda: not fake.pods, what="no pod left")


async def test_a_pod_missing_from_the_list_is_not_gone(cockpit: Cockpit, fake: FakeRunPod) -> None:  # noqa: F811
    """Finding 1: three listings without the pod (the list is eventually consistent) do not
    fail the run, relaunch it on a second pod, or lose track of the first."""
    run_id = await cockpit.launch("H5")
    await running(cockpit, run_id)
    listed = fake.counts["pods"]
    fake.hidden[run_id] = 3
    await async_wait_for(lambda: fake.counts["pods"] >= listed + 5, what="the gap to pass")
    run = cockpit.client.run(run_id)
    assert run is not None and run.active, run
    assert fake.counts["pod"] >= 1  # asked by id, which found it
    assert fake.counts["create"] == 1 and len(cockpit.client.runs()) == 1
    cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    assert (await cockpit.ended(run_id)).state == "stopped"
    await async_wait_for(lambda: not fake.pods, what="no pod left")


async def test_a_pod_missing_for_one_poll_keeps_its_logs_flowing(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
) -> None:
    """Finding 2: the streams end when the run does and its logs are drained, not when the
    pod is missing from one listing."""
    run_id = await cockpit.launch("H4")
    mirror = cockpit.paths.mirror_log(run_id, "train")
    await async_wait_for(lambda: mirror.exists() and '"step": 99,' in mirror.read_text())
    listed = fake.counts["pods"]
    fake.hidden[run_id] = 1
    await async_wait_for(lambda: fake.counts["pods"] >= listed + 3, what="the gap to pass")
    await polls_later(cockpit, 20)  # streams told to end would have ended (1 s read timeouts)
    run = cockpit.client.run(run_id)
    assert run is not None and run.handle is not None
    remote = Path(run.handle["run_dir"])
    (remote / "release").touch()
    (remote / "release2").touch()
    ended = await cockpit.ended(run_id)
    assert ended.state == "succeeded", ended.detail
    assert RunWarning.STALLED not in ended.warnings
    assert mirror.read_bytes() == (remote / "train.log").read_bytes()
    await async_wait_for(lambda: not fake.pods, what="no pod left")
    assert fake.counts["create"] == 1 and fake.counts["pod"] >= 1


async def test_a_create_that_answered_an_error_leaves_no_pod(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 3: the create went through but answered 500, then RunPod served HTML 502 pages
    until the launch gave up. The pod is found by name and terminated; the run says so."""
    monkeypatch.setattr(runpod, "CREATE_ATTEMPTS", 2)
    monkeypatch.setattr(runpod, "LEFTOVER_SPAN_S", 0.5)
    fake.faults.append(
        Fault("create", "500-errors-after-success", then=[Fault("pods", "html-502", seconds=4)])
    )
    run_id = await cockpit.launch("H5")
    run = await cockpit.ended(run_id)
    assert run.state == "failed" and run.handle is None
    assert "making sure no pod was left" in run.detail or "it left" in run.detail
    done = await async_wait_for(
        lambda: (r := cockpit.client.run(run_id)) and "it left" in r.detail and r, what="cleanup"
    )
    assert "; terminated pod " in done.detail  # type: ignore[union-attr]
    assert fake.pods == {} and fake.counts["create"] == 1
    assert any(e.kind == "leftovers" for e in cockpit.client.events(run_id))
    await end_every_run(cockpit, fake)  # an auto-relaunch (infra) may follow


async def test_a_terminate_that_does_nothing_is_retried_and_shown(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 5: terminate answers OK and leaves the pod. The run shows terminate-failed, its
    cost keeps counting, `cockpit ps` lists the pod, and the retries end it."""
    monkeypatch.setattr(runpod, "TERMINATE_WAIT_S", 1.0)
    fake.faults.append(Fault("terminate", "ignored", times=4))
    run_id = await cockpit.launch("H1")
    failing = await async_wait_for(
        lambda: (
            (r := cockpit.client.run(run_id)) and RunWarning.TERMINATE_FAILED in r.warnings and r
        ),
        what="terminate-failed",
    )
    assert failing.state == "succeeded"  # type: ignore[union-attr]
    listed = subprocess.run(
        [sys.executable, "-m", "cockpit", "ps", "--json", "--project", str(cockpit.project)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    rows = json.loads(listed.stdout)
    assert [row["run_id"] for row in rows if row.get("terminate_failed")] == [run_id]
    await async_wait_for(lambda: not fake.pods, what="the pod finally gone")
    run = await async_wait_for(
        lambda: (
            (r := cockpit.client.run(run_id))
            and RunWarning.TERMINATE_FAILED not in r.warnings
            and r.stage == "done"
            and r
        ),
        what="the warning cleared",
    )
    assert run.cost_so_far > 0  # type: ignore[union-attr]
    assert fake.counts["terminate"] >= 5


async def test_rate_limits_and_a_refused_key_are_honoured(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 8: Retry-After holds every request back, not only creates; a 401 mid-run backs
    off with one standing alert that clears when RunPod takes the key again."""
    monkeypatch.setattr(runpod_api, "AUTH_BACKOFF_S", 1.5)
    run_id = await cockpit.launch("H5")
    await running(cockpit, run_id)
    fake.faults.append(Fault("pods", "429", retry_after="2"))
    before = fake.counts["pods"]
    await async_wait_for(lambda: fake.counts["pods"] > before, what="the 429")
    await polls_later(cockpit, 8)  # 0.1 s polls: eight would each have asked
    assert fake.counts["pods"] == before + 1
    fake.faults.append(Fault("pods", "401"))
    await async_wait_for(
        lambda: any("refused the API key" in a.message for a in cockpit.client.alerts()),
        what="the alert",
    )
    refused_at = fake.counts["pods"]
    await polls_later(cockpit, 8)
    assert fake.counts["pods"] == refused_at  # backing off, not asking every poll
    await async_wait_for(lambda: not cockpit.client.alerts(), what="the alert to clear")
    run = cockpit.client.run(run_id)
    assert run is not None and run.active
    cockpit.client.submit_request(StopRequest(run_id=run_id), "test")
    await cockpit.ended(run_id)
    await async_wait_for(lambda: not fake.pods, what="no pod left")


async def test_cost_never_goes_down_when_a_pod_is_preempted(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
) -> None:
    """Finding 6: a preempted pod reports no uptime any more; what it cost stays."""
    run_id = await cockpit.launch("H5")
    await running(cockpit, run_id)
    fake.uptime_offset_s = 3600.0
    await async_wait_for(
        lambda: (r := cockpit.client.run(run_id)) and r.cost_so_far > 2.9, what="an hour billed"
    )
    fake.preempt(run_id)
    run = await cockpit.ended(run_id)
    assert run.failure_class == "preempted" and run.cost_so_far > 2.9
    child = await async_wait_for(
        lambda: next((r for r in cockpit.client.runs() if r.parent == run_id), None),
        what="the relaunch",
    )
    assert cockpit.client.plan_cost("hypotheses.md") > 2.9
    cockpit.client.submit_request(StopRequest(run_id=child.id), "test")  # type: ignore[union-attr]
    await cockpit.ended(child.id)  # type: ignore[union-attr]
    assert (cockpit.client.run(run_id)).cost_so_far > 2.9  # type: ignore[union-attr]
    await async_wait_for(lambda: not fake.pods, what="no pod left")


async def test_a_stopped_pods_volume_is_billed_until_it_is_gone(
    cockpit: Cockpit,  # noqa: F811
    fake: FakeRunPod,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 6, the storage half: a stopped pod's volume bills until the pod is terminated;
    that storage is added to the run's cost while cockpit keeps trying to terminate it."""
    monkeypatch.setattr(runpod, "TERMINATE_WAIT_S", 0.5)
    monkeypatch.setattr(runpod, "HOURS_PER_MONTH", 1 / 3600)  # a month a second: visible
    assert cockpit.supervisor is not None
    cockpit.supervisor.backends["pod"].pod["volumeInGb"] = 20  # type: ignore[attr-defined]
    run_id = await cockpit.launch("H5")
    await running(cockpit, run_id)
    with fake.lock:
        assert all(pod.get("volumeInGb") for pod in fake.pods.values())
    fake.faults.append(Fault("terminate", "ignored", times=3))
    fake.preempt(run_id)
    run = await cockpit.ended(run_id)
    at_end = run.cost_so_far
    await async_wait_for(lambda: not fake.pods, timeout=60, what="the pod finally gone")
    final = cockpit.client.run(run_id)
    assert final is not None and final.cost_so_far > at_end + 0.01, (at_end, final.cost_so_far)
    await end_every_run(cockpit, fake)  # the relaunch of the preempted run
