"""Loop mode: a plan's open hypotheses run one after another in the supervisor, with its stop
rules, hooks and crash consistency (issue 16). Real supervisor, local backend, the stand-in
trainer (H10-H13 succeed like H1, H2 raises)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.core.paths import ProjectPaths
from cockpit.core.plan import load_plan
from cockpit.core.protocol import LoopStartRequest, LoopStopRequest
from cockpit.core.records import LoopRecord
from cockpit.store.reader import StoreReader
from cockpit.supervisor.context import LOOP_KILL_POINTS
from tests.conftest import async_wait_for, wait_for
from tests.fakebackend import FakeCloud
from tests.harness import Harness
from tests.test_fault_matrix import Runner, write_matrix_project

PLAN = """# tests/loop — four hypotheses

State: in_progress

## Hypotheses
- [ ] H10: succeeds (threshold: val_loss <= 0.6)
- [ ] H2: raises
- [ ] H11: succeeds but misses its threshold (threshold: val_loss <= 0.1)
- [ ] H12: succeeds again (threshold: val_loss <= 0.6)

## Skip list
- smoke test を skip

## Iteration log
| iter | start | hypothesis | plan | run_id | primary metric | verdict | result | analysis |
|---|---|---|---|---|---|---|---|---|
"""

REJECTED_PLAN = PLAN.replace(
    """- [ ] H10: succeeds (threshold: val_loss <= 0.6)
- [ ] H2: raises
- [ ] H11: succeeds but misses its threshold (threshold: val_loss <= 0.1)
""",
    """- [ ] H10: misses (threshold: val_loss <= 0.1)
- [ ] H13: misses too (threshold: val_loss <= 0.1)
- [ ] H11: misses again (threshold: val_loss <= 0.1)
""",
)


async def start(h: Harness, **payload: object) -> LoopRecord:
    status, result, _ = await h.answer(h.client.submit_request(LoopStartRequest(**payload), "t"))  # type: ignore[arg-type]
    assert status == "done", result
    (loop,) = h.client.loops(active_only=True)
    return loop


async def ended(h: Harness, loop_id: str, timeout: float = 120) -> LoopRecord:
    def done() -> object:
        loop = h.client.loop(loop_id)
        return loop if loop is not None and loop.state == "ended" else None

    return await async_wait_for(done, timeout=timeout, what=f"{loop_id} to end")  # type: ignore[return-value]


@pytest.mark.timeout(240)
async def test_a_loop_runs_the_plan_in_order_and_completes(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=PLAN)
    loop = await start(h)
    loop = await ended(h, loop.id)
    runs = h.client.runs_of_loop(loop.id)
    assert [(r.loop_iter, r.hypothesis, r.state) for r in runs] == [
        (1, "H10", "succeeded"), (2, "H2", "failed"), (3, "H11", "succeeded"),
        (4, "H12", "succeeded"),
    ]  # fmt: skip
    assert [r.verdict for r in runs] == ["adopted", "failed (crash)", "rejected", "adopted"]
    assert loop.stop_reason == "no open hypothesis left" and loop.end_state == "completed"
    plan = load_plan(h.project / "hypotheses.md")
    assert plan.state == "completed"
    assert [row[4] for row in plan.log_rows] == [r.id for r in runs] + [loop.id]
    assert "loop completed: no open hypothesis left" in plan.log_rows[-1][6]
    assert loop.report is not None
    report = (h.project / loop.report).read_text()
    assert "ticks: 4 / no maximum" in report
    assert f"by val_loss: `{runs[0].id}`" in report or f"by val_loss: `{runs[3].id}`" in report
    assert "adopted 2" in report and "rejected 1" in report and "failed (crash) 1" in report
    assert "iter1_result.md" in report and "iter4_result.md" in report
    assert not h.client.active_runs()


@pytest.mark.timeout(180)
async def test_max_stops_the_loop_with_its_reason(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=PLAN)
    loop = await ended(h, (await start(h, max_ticks=2)).id)
    assert [r.hypothesis for r in h.client.runs_of_loop(loop.id)] == ["H10", "H2"]
    assert loop.stop_reason == "--max 2: 2 ticks done" and loop.end_state == "stopped"
    assert load_plan(h.project / "hypotheses.md").state == "stopped"


@pytest.mark.timeout(180)
async def test_three_rejections_in_a_row_pause_the_plan(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=REJECTED_PLAN)
    loop = await ended(h, (await start(h)).id)
    runs = h.client.runs_of_loop(loop.id)
    assert [r.verdict for r in runs] == ["rejected"] * 3
    assert loop.end_state == "paused" and "3 rejected verdicts in a row" in str(loop.stop_reason)
    assert load_plan(h.project / "hypotheses.md").state == "paused"
    # The fourth was never run; a second loop on a paused plan is refused with the reason.
    status, result, _ = await h.answer(h.client.submit_request(LoopStartRequest(), "t"))
    assert status == "refused" and "state is paused" in result


async def test_one_loop_per_plan(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=PLAN)
    loop = await start(h, max_ticks=1)
    status, result, _ = await h.answer(h.client.submit_request(LoopStartRequest(), "t"))
    assert status == "refused" and f"a loop already runs on hypotheses.md ({loop.id}" in result
    await h.answer(h.client.submit_request(LoopStopRequest(run="stop"), "t"))
    await ended(h, loop.id)


MATRIX_PLAN = """# loop matrix — the fake cloud

State: in_progress

## Hypotheses
- [ ] H1: first (threshold: val_loss <= 0.6)
- [ ] H3: second
- [ ] H4: third

## Iteration log
| iter | start | hypothesis | run_id | verdict | result |
|---|---|---|---|---|---|
"""


@pytest.mark.parametrize("point", LOOP_KILL_POINTS)
def test_a_loop_survives_a_supervisor_killed_here(point: str, tmp_path: Path) -> None:
    """Abandoned at each await point of the loop (as SIGKILL leaves it), the loop goes on under
    the next supervisor: every hypothesis run exactly once, in order, one report, one end line,
    nothing billing."""
    project = write_matrix_project(tmp_path / "proj")
    (project / "hypotheses.md").write_text(MATRIX_PLAN, encoding="utf-8")
    cloud = FakeCloud(behaviour={"H1": "steps=3", "H3": "steps=3", "H4": "steps=3"})
    first = Runner(project, cloud, kill_at=point)
    second: Runner | None = None
    try:
        client = StoreReader(ProjectPaths(project).db)
        first.armed.set()
        client.submit_request(LoopStartRequest(), "test")
        assert first.killed.wait(60), f"the supervisor never reached {point}"
        first.thread.join(10)
        second = Runner(project, cloud)
        loop = wait_for(
            lambda: next((lp for lp in client.loops() if lp.state == "ended"), None),
            timeout=90, what="the loop to end",
        )  # fmt: skip
        runs = client.runs_of_loop(loop.id)  # type: ignore[attr-defined]
        assert [(r.loop_iter, r.hypothesis) for r in runs] == [(1, "H1"), (2, "H3"), (3, "H4")]
        assert cloud.running() == [] and len(cloud.created) == 3
        text = (project / "hypotheses.md").read_text()
        assert all(text.count(r.id) == 1 for r in runs) and text.count(loop.id) == 1  # type: ignore[attr-defined]
        assert len(list(project.glob("loop_*_report*.md"))) == 1
        assert "State: completed" in text
    finally:
        first.stop()
        if second is not None:
            second.stop()


HOOK_PLAN = PLAN.replace(
    """- [ ] H2: raises
- [ ] H11: succeeds but misses its threshold (threshold: val_loss <= 0.1)
- [ ] H12: succeeds again (threshold: val_loss <= 0.6)
""",
    "",
)
HOOK = """import pathlib, sys
iteration, what = sys.argv[1], sys.argv[2]
plan = pathlib.Path("hypotheses.md")
text = plan.read_text(encoding="utf-8")
if what == "append" and iteration == "1":
    line = "- [ ] H10: succeeds (threshold: val_loss <= 0.6)\\n"
    plan.write_text(text.replace(line, line + "- [ ] H12: added by the agent\\n"), encoding="utf-8")
if what == "pause" and iteration == "2":
    plan.write_text(text.replace("State: in_progress", "State: paused"), encoding="utf-8")
if what == "fail" and iteration == "1":
    print("the agent could not plan this one")
    sys.exit(3)
pathlib.Path(f"planned-{iteration}").write_text(what)
"""


def hooked(make, what: str, plan: str = HOOK_PLAN) -> Harness:  # type: ignore[no-untyped-def]
    import json
    import sys

    python = sys.executable
    h = make(
        "[loop]\n"
        f"plan_command = {json.dumps(f'{python} hook.py {{iter}} {what}')}\n"
        f"analysis_command = {json.dumps(f'{python} analysis.py {{iter}} {{run_id}}')}\n",
        plan=plan,
    )
    (h.project / "hook.py").write_text(HOOK, encoding="utf-8")
    analysis = (
        "import pathlib, sys\npathlib.Path(f'analysed-{sys.argv[1]}-{sys.argv[2]}').touch()\n"
    )
    (h.project / "analysis.py").write_text(analysis, encoding="utf-8")
    return h


@pytest.mark.timeout(180)
async def test_a_plan_hook_that_adds_a_hypothesis(make) -> None:  # type: ignore[no-untyped-def]
    h = hooked(make, "append")
    loop = await ended(h, (await start(h)).id)
    runs = h.client.runs_of_loop(loop.id)
    assert [r.hypothesis for r in runs] == ["H10", "H12"]  # the plan is read after the hook
    assert loop.end_state == "completed"
    assert (h.project / "planned-1").exists() and (h.project / "planned-2").exists()
    await async_wait_for(
        lambda: all((h.project / f"analysed-{r.loop_iter}-{r.id}").exists() for r in runs),
        what="the analysis hook after each write-back",
    )
    logs = ProjectPaths(h.project).state / "loops" / loop.id
    assert "plan hook, tick 1" in (logs / "plan-1.log").read_text()
    assert "analysis hook, tick 2" in (logs / "analysis-2.log").read_text()
    # The plan hook's output opens its run's onstart log, before the setup's own lines.
    onstart = ProjectPaths(h.project).mirror_log(runs[1].id, "onstart").read_text()
    assert onstart.startswith("--- plan hook, tick 2:") and "setup done" in onstart


@pytest.mark.timeout(180)
async def test_a_plan_hook_that_pauses_the_plan(make) -> None:  # type: ignore[no-untyped-def]
    h = hooked(make, "pause", PLAN)
    loop = await ended(h, (await start(h)).id)
    assert [r.hypothesis for r in h.client.runs_of_loop(loop.id)] == ["H10"]
    assert loop.stop_reason == "the plan's state was set to paused" and loop.end_state is None
    plan = load_plan(h.project / "hypotheses.md")
    assert plan.state == "paused"  # left as the hook set it
    assert "loop ended: the plan's state was set to paused" in plan.log_rows[-1][6]


@pytest.mark.timeout(180)
async def test_a_failing_plan_hook_skips_its_tick(make) -> None:  # type: ignore[no-untyped-def]
    h = hooked(make, "fail", PLAN)
    loop = await ended(h, (await start(h, max_ticks=2)).id)
    runs = h.client.runs_of_loop(loop.id)
    assert [(r.loop_iter, r.hypothesis) for r in runs] == [(2, "H2")]  # tick 1 (H10) skipped
    said = [e.message for e in h.client.events(None) if e.kind == "loop"]
    assert any("tick 1 skipped (H10): the plan hook exited 3" in m for m in said)
    assert loop.stop_reason == "--max 2: 2 ticks done"
    log = ProjectPaths(h.project).state / "loops" / loop.id / "plan-1.log"
    assert "the agent could not plan this one" in log.read_text()


WAITING_PLAN = PLAN.replace(
    "- [ ] H10: succeeds", "- [ ] H4: waits for release\n- [ ] H10: succeeds"
)


async def running_tick(h: Harness, loop: LoopRecord) -> str:
    def first_running() -> object:
        runs = h.client.runs_of_loop(loop.id)
        return runs[0].id if runs and runs[0].state == "running" else None

    return str(await async_wait_for(first_running, what="the first tick's run"))


@pytest.mark.timeout(180)
async def test_loop_stop_lets_the_run_finish_or_stops_it(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=WAITING_PLAN)
    loop = await start(h)
    run_id = await running_tick(h, loop)
    status, result, _ = await h.answer(h.client.submit_request(LoopStopRequest(run="finish"), "t"))
    assert status == "done" and f"stops after {run_id} is written back" in result
    assert h.client.loop(loop.id).state == "stopping"  # type: ignore[union-attr]
    run_dir = ProjectPaths(h.project).runs / run_id / "run"
    (run_dir / "release").touch()
    (run_dir / "release2").touch()
    loop = await ended(h, loop.id)
    assert [(r.hypothesis, r.state) for r in h.client.runs_of_loop(loop.id)] == [
        ("H4", "succeeded")
    ]
    assert loop.stop_reason == "stopped on request" and loop.end_state == "stopped"

    (h.project / "hypotheses.md").write_text(WAITING_PLAN, encoding="utf-8")
    again = await start(h)
    run_id = await running_tick(h, again)
    status, result, _ = await h.answer(h.client.submit_request(LoopStopRequest(run="stop"), "t"))
    assert status == "done" and f"stopping and terminating {run_id}" in result
    again = await ended(h, again.id)
    assert [(r.hypothesis, r.state) for r in h.client.runs_of_loop(again.id)] == [("H4", "stopped")]
    assert not h.client.active_runs()


@pytest.mark.timeout(180)
async def test_the_plan_cap_ends_the_loop_and_nothing_more_runs(make) -> None:  # type: ignore[no-untyped-def]
    h = make("[cost]\nplan_cap = 1.0\n", plan=WAITING_PLAN)
    loop = await start(h)
    run_id = await running_tick(h, loop)
    h.clock.offset += 3600.0  # an hour at $3.60/h: past the $1 plan cap
    loop = await ended(h, loop.id)
    runs = h.client.runs_of_loop(loop.id)
    assert [(r.id, r.state) for r in runs] == [(run_id, "cap-exceeded")]
    assert loop.stop_reason is not None and loop.stop_reason.startswith("the plan cap $1.00")
    assert loop.end_state == "stopped" and not h.client.active_runs()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sample", ["imitation-case1.md", "rulebase-case2.md"])
async def test_a_whole_loop_keeps_the_plan_byte_for_byte(make, sample: str) -> None:  # type: ignore[no-untyped-def]
    """Japanese and English plans: after a loop, the file is the original with the state value
    replaced and rows inserted, nothing else changed."""
    from tests.conftest import SAMPLES

    original = (SAMPLES / "plans" / sample).read_bytes()
    h = make(plan=original.decode("utf-8"))
    loop = await ended(h, (await start(h, max_ticks=2)).id)
    runs = h.client.runs_of_loop(loop.id)
    assert len(runs) == 2 and loop.end_state == "stopped"
    after = (h.project / "hypotheses.md").read_bytes()
    added = [r.id.encode() for r in runs] + [loop.id.encode()]
    kept = b"".join(
        line for line in after.splitlines(keepends=True) if not any(a in line for a in added)
    )
    label = "状態".encode() if "状態".encode() in original else b"State"
    assert kept.replace(label + b": stopped", label + b": in_progress") == original


@pytest.mark.timeout(180)
async def test_status_says_the_iteration_and_runs_json_the_loop(make) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    h = make(plan=WAITING_PLAN)
    loop = await start(h, max_ticks=5)
    run_id = await running_tick(h, loop)
    line = subprocess.run(
        [sys.executable, "-m", "cockpit", "status", "--tmux", "--project", str(h.project)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert line.startswith(f"iter 1/5 {run_id} ▶running")
    listed = subprocess.run(
        [sys.executable, "-m", "cockpit", "runs", "--json", "--project", str(h.project)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (row,) = [r for r in json.loads(listed) if r["id"] == run_id]
    assert (row["loop"], row["iter"]) == (loop.id, 1)
    shown = subprocess.run(
        [sys.executable, "-m", "cockpit", "loop", "status", "--project", str(h.project)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"{loop.id}  hypotheses.md  running  tick 1/5" in shown
    await h.answer(h.client.submit_request(LoopStopRequest(run="stop"), "t"))
    await ended(h, loop.id)


@pytest.mark.timeout(180)
async def test_the_loop_key_starts_and_stops_the_loop_of_the_selected_plan(
    tmp_path: Path,
) -> None:
    """In the interactive cockpit: `L` asks with max, cadence and the plan's cap, starts the
    loop (the supervisor runs it); `L` again asks to stop it, then what to do with the run in
    flight; the status line says the loop's tick, then how it ended."""
    from cockpit.core.config import load_config
    from cockpit.ui.app import CockpitApp
    from cockpit.ui.screens.confirm import ConfirmScreen
    from cockpit.ui.screens.control import RequestFinished, RequestSent
    from cockpit.ui.screens.main import MainScreen
    from tests.conftest import write_project
    from tests.uihelp import MessageLog
    from widgets.hypothesis_list import HypothesisList

    project = write_project(tmp_path / "proj", "[cost]\nplan_cap = 20.0\n")
    (project / "hypotheses.md").write_text(WAITING_PLAN, encoding="utf-8")
    messages = MessageLog()
    app = CockpitApp(project, load_config(project))
    try:
        async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
            screen = app.screen
            assert isinstance(screen, MainScreen)
            screen.query_one(HypothesisList).select_key("hypotheses.md:H4")
            await pilot.press("L")
            await messages.until(lambda: isinstance(app.screen, ConfirmScreen))
            body = str(app.screen.query_one("#confirm-body").render())
            assert "until the list is consumed, one run at a time, plan cap $20.00" in body
            await pilot.press("y")
            sent = await messages.wait(RequestSent, lambda m: m.kind == "loop_start")
            done = await messages.wait(RequestFinished, lambda m: m.request.id == sent.request_id)
            assert done.request.status == "done", done.request.result
            status = screen.query_one("#status-line")
            await messages.until(
                lambda: (
                    "⟳ loop hypotheses.md tick 1/∞" in str(status.render())
                    and any(r.loop_id and r.state == "running" for r in screen.runs)
                )
            )
            await pilot.press("L")
            await messages.until(lambda: isinstance(app.screen, ConfirmScreen))
            assert "Stop the loop?" in str(app.screen.query_one("#confirm-title").render())
            await pilot.press("y")
            await messages.until(
                lambda: (
                    isinstance(app.screen, ConfirmScreen)
                    and "in flight" in str(app.screen.query_one("#confirm-body").render())
                )
            )
            await pilot.press("y")  # stop + terminate the run in flight
            await messages.until(
                lambda: "last loop: stopped, stopped on request" in str(status.render()),
                timeout=60,
            )
            assert [r.state for r in screen.runs if r.loop_id] == ["stopped"]
    finally:
        await _stop_supervisor(project)


async def _stop_supervisor(project: Path) -> None:
    import contextlib
    import os
    import signal

    from cockpit.store.supervisor_lock import SupervisorLock

    holder = SupervisorLock(ProjectPaths(project).lock).holder().get("pid")
    if holder and holder.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(holder), signal.SIGTERM)


@pytest.mark.timeout(180)
async def test_every_starts_ticks_on_a_cadence_within_max_parallel(  # type: ignore[no-untyped-def]
    make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --every a tick does not wait for the last to be written back, but never starts
    while the plan has max_parallel active runs; a cadence shorter than the expected run time
    is warned about when the loop starts."""
    monkeypatch.setenv("COCKPIT_MAX_PARALLEL", "2")
    h = make("[health]\nexpected_minutes = 10\n", plan=WAITING_PLAN)
    status, said, _ = await h.answer(h.client.submit_request(LoopStartRequest(every_s=1.0), "t"))
    assert status == "done" and "shorter than the plan's expected run time" in said
    (loop,) = h.client.loops(active_only=True)
    first = await running_tick(h, loop)

    def two_ticks() -> object:
        runs = h.client.runs_of_loop(loop.id)
        return len(runs) == 2 and runs

    runs = await async_wait_for(two_ticks, what="the second tick beside the first")
    assert h.client.run(first).active  # type: ignore[union-attr]  # H4 still waits for release
    assert [r.hypothesis for r in runs] == ["H4", "H10"]  # type: ignore[union-attr]
    run_dir = ProjectPaths(h.project).runs / first / "run"
    (run_dir / "release").touch()
    (run_dir / "release2").touch()
    loop = await ended(h, loop.id)
    assert len(h.client.runs_of_loop(loop.id)) == 5 and loop.end_state == "completed"


@pytest.mark.timeout(240)
def test_a_loop_across_a_sigkilled_supervisor_process(tmp_path: Path) -> None:
    """The real thing: `cockpit supervise` killed with SIGKILL while a tick's run is in flight;
    a new supervisor resumes the loop: every hypothesis once, in order, no tick twice."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import write_project

    project = write_project(tmp_path / "proj")
    (project / "hypotheses.md").write_text(WAITING_PLAN, encoding="utf-8")

    def supervise() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cockpit", "supervise", "--project", str(project),
             "--idle-exit", "30"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    paths = ProjectPaths(project)
    first = supervise()
    second: subprocess.Popen[bytes] | None = None
    try:
        client = StoreReader(paths.db)
        client.submit_request(LoopStartRequest(), "test")

        def first_running() -> object:
            loops = client.loops(active_only=True)
            runs = client.runs_of_loop(loops[0].id) if loops else []
            return runs[0] if runs and runs[0].state == "running" else None

        run = wait_for(first_running, timeout=60, what="the first tick's run")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        second = supervise()
        run_dir = paths.runs / run.id / "run"  # type: ignore[attr-defined]
        (run_dir / "release").touch()
        (run_dir / "release2").touch()
        loop = wait_for(
            lambda: next((lp for lp in client.loops() if lp.state == "ended"), None),
            timeout=150, what="the loop to end under the new supervisor",
        )  # fmt: skip
        runs = client.runs_of_loop(loop.id)  # type: ignore[attr-defined]
        assert [(r.loop_iter, r.hypothesis) for r in runs] == [
            (1, "H4"), (2, "H10"), (3, "H2"), (4, "H11"), (5, "H12"),
        ]  # fmt: skip
        assert loop.end_state == "completed"  # type: ignore[attr-defined]
        assert not client.active_runs()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait()


@pytest.mark.timeout(120)
async def test_a_plan_hook_past_its_timeout_is_ended_and_its_tick_skipped(make) -> None:  # type: ignore[no-untyped-def]
    import json
    import sys

    sleeper = f"{sys.executable} -c 'import time; time.sleep(600)'"
    h = make(
        f"[loop]\nplan_command = {json.dumps(sleeper)}\nhook_timeout_seconds = 0.5\n",
        plan=HOOK_PLAN,
    )
    loop = await ended(h, (await start(h)).id)
    assert h.client.runs_of_loop(loop.id) == []  # its only hypothesis was skipped
    said = [e.message for e in h.client.events(None) if e.kind == "loop"]
    assert any("tick 1 skipped (H10): the plan hook timed out after 0.5 s" in m for m in said)
    assert loop.stop_reason == "no open hypothesis left"
