"""cockpit.toml edited while the supervisor runs: a lowered cap caps a running run within a
poll, a changed command is what the next launch runs, and a broken save keeps the last good
config in force with an alert naming the file, the key and the problem until it is fixed."""

from __future__ import annotations

from cockpit.cli.status import gather
from cockpit.core.config import CONFIG_FILE
from tests.conftest import async_wait_for
from tests.harness import Harness


def edit(h: Harness, extra: str) -> int:
    """Append to the running project's config; the poll count at the moment of the save."""
    path = h.project / CONFIG_FILE
    path.write_text(path.read_text() + extra, encoding="utf-8")
    return h.supervisor.polls


async def running(h: Harness, hypothesis: str) -> str:
    run_id = await h.launch(hypothesis)
    await async_wait_for(
        lambda: (run := h.client.run(run_id)) is not None and run.state == "running",
        what=f"{hypothesis} running",
    )
    return run_id


async def test_a_lowered_cap_caps_the_running_run_within_a_poll(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    run_id = await running(h, "H5")
    h.clock.offset = 10.0  # ten seconds at $3.60/h: $0.01 so far, no cap yet
    await async_wait_for(lambda: h.client.run(run_id).cost_so_far >= 0.01, what="the cost")  # type: ignore[union-attr]
    saved_at = edit(h, "[cost]\nrun_cap = 0.005\n")

    def stopping() -> bool:  # the stop's intent is recorded (or it is done already)
        run = h.client.run(run_id)
        return run is not None and (run.stop_intent is not None or not run.active)

    await async_wait_for(stopping, what="the stop")
    assert h.supervisor.polls - saved_at <= 2  # the poll after the save (one may be under way)
    ended = await h.ended(run_id)
    assert ended.state == "cap-exceeded" and ended.cap == 0.005
    assert ended.guard == "cost cap: the run cap $0.005 was reached"  # never "$0.00"
    events = [e.message for e in h.client.events(None) if e.kind == "config"]
    assert events == ["config reloaded: cost.run_cap"]
    enforced = h.client.meta("enforced")
    assert isinstance(enforced, dict) and enforced["cost"]["run_cap"] == 0.005


async def test_a_broken_save_keeps_the_last_good_cap_and_says_so(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    run_id = await running(h, "H5")
    edit(h, "[cost]\nrun_cap = 0.05\n")
    await async_wait_for(lambda: h.client.run(run_id).cap == 0.05, what="the cap in force")  # type: ignore[union-attr]
    path = h.project / CONFIG_FILE
    good = path.read_text()
    path.write_text(good.replace("run_cap = 0.05", 'run_cap = "lots"'))
    alert = await async_wait_for(lambda: h.client.alerts(), what="the alert")
    (found,) = alert  # type: ignore[misc]
    assert found.key == "config"
    assert f"{path}: key 'cost.run_cap'" in found.message
    assert "last good config stays in force" in found.message
    status = gather(h.project)
    assert [a["key"] for a in status["alerts"]] == ["config"]
    assert "cost.run_cap" in status["alerts"][0]["message"]
    assert h.client.run(run_id).active  # type: ignore[union-attr]

    path.write_text(good + "this is [not toml\n")  # a second broken save: a new message
    await async_wait_for(
        lambda: "not valid TOML" in h.client.alerts()[0].message, what="the TOML alert"
    )
    h.clock.offset = 60.0  # $0.06 so far: past the last good cap ($0.05)
    ended = await h.ended(run_id)
    assert ended.state == "cap-exceeded" and ended.cap == 0.05

    path.write_text(good)  # fixed: the alert clears
    await async_wait_for(lambda: not h.client.alerts(), what="the alert to clear")
    assert gather(h.project)["alerts"] == []
    kinds = [e.message for e in h.client.events(None) if e.kind in ("alert", "config")]
    assert kinds.count(f"{CONFIG_FILE} is valid again") == 1


async def test_a_launch_runs_the_command_in_the_file_now(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    path = h.project / CONFIG_FILE
    path.write_text(path.read_text().replace('command = "', 'command = "env COCKPIT_EDITED=1 ', 1))
    await async_wait_for(
        lambda: any(e.kind == "config" for e in h.client.events(None)), what="the reload"
    )
    run = h.client.run(await h.launch("H1"))
    assert run is not None and run.spec["command"].startswith("env COCKPIT_EDITED=1 ")
    assert (await h.ended(run.id)).state == "succeeded"
