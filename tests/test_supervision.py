"""Health rules, caps, auto-recover, pre-flight and write-back, end to end on the local backend
with real processes (a fake clock only where a test must not wait an hour)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from backends import processes as procs
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.supervisor import Supervisor
from tests.conftest import PLAN, async_wait_for, write_project


async def test_oom_fails_with_its_line_and_is_not_relaunched(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    run = await h.ended(await h.launch("H6"))
    assert (run.state, run.failure_class) == ("failed", "oom")
    assert run.failure_line.startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert (run.failure_source, run.failure_line_no) == ("train", 7)
    mirror = ProjectPaths(h.project).mirror_log(run.id, "train").read_text().splitlines()
    assert mirror[run.failure_line_no - 1] == run.failure_line
    assert run.guard == (
        "running out of memory is not relaunched automatically (recover.on in cockpit.toml "
        "lists what is: infra, killed, preempted)"
    )
    assert [r.id for r in h.client.runs()] == [run.id]  # nothing relaunched


async def test_killed_is_relaunched_once_then_attempts_are_exhausted(make) -> None:  # type: ignore[no-untyped-def]
    h = make("[recover]\nbackoff_seconds = 0\n")
    first = await h.launch("H5")
    paths = ProjectPaths(h.project)

    async def kill_trainer(run_id: str) -> None:
        pid_file = paths.runs / run_id / "run" / "trainer.pid"
        await async_wait_for(pid_file.exists, what="the trainer's pid")
        mirror = paths.mirror_log(run_id, "train")
        # Killed once it has logged a step (and the mirror has it): what is kept is checked.
        await async_wait_for(
            lambda: mirror.exists() and '"step"' in mirror.read_text(), what="a step mirrored"
        )
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the OOM killer, say

    await kill_trainer(first)
    failed = await h.ended(first)
    assert (failed.state, failed.failure_class, failed.exit_code) == ("failed", "killed", 137)
    assert failed.guard == ""
    second = await async_wait_for(
        lambda: next((r.id for r in h.client.runs() if r.parent == first), None),
        what="the relaunch",
    )
    again = h.client.run(str(second))
    assert again is not None and again.attempt == 2 and again.commit == failed.commit
    assert again.spec["command"] == failed.spec["command"]
    await kill_trainer(str(second))
    gave_up = await h.ended(str(second))
    assert gave_up.failure_class == "killed"
    assert gave_up.guard == "attempts exhausted (2 of 2)"
    assert len(h.client.runs()) == 2
    # Every log already mirrored is kept.
    assert paths.mirror_log(first, "train").read_text().count('"step"') >= 1


async def test_cost_cap_stops_terminates_and_never_relaunches(make) -> None:  # type: ignore[no-untyped-def]
    h = make("[cost]\nrun_cap = 1.0\n[recover]\nbackoff_seconds = 0\non = ['killed', 'unknown']\n")
    run_id = await h.launch("H5")
    grandchild = ProjectPaths(h.project).runs / run_id / "run" / "grandchild.pid"
    await async_wait_for(grandchild.exists, what="the run to start")
    h.clock.offset = 3600.0  # an hour later at $3.60/h: $3.60, over the $1 cap
    run = await h.ended(run_id)
    assert run.state == "cap-exceeded" and run.cap == 1.0 and run.cost_so_far >= 1.0
    assert run.guard == "cost cap: the run cap $1.00 was reached"
    assert not procs.group_alive(int(run.handle["data"]["pgid"]))  # type: ignore[index]
    assert not procs.is_alive(int(grandchild.read_text()), None)
    await h.result_written(run_id)
    assert [r.id for r in h.client.runs()] == [run_id]
    assert h.client.pending_requests() == []
    # A manual launch needs the cap raised first; the raise is an event.
    status, result, _ = await h.answer(h.request("launch", hypothesis="H5"))
    assert status == "refused" and "raise the cap first" in result
    status, result, _ = await h.answer(
        h.request("raise_cap", plan="hypotheses.md", hypothesis="H5", cap=0.5)
    )
    assert status == "refused" and "does not raise" in result
    status, result, _ = await h.answer(
        h.request("raise_cap", plan="hypotheses.md", hypothesis="H5", cap=5.0)
    )
    assert status == "done" and "raised from $1.00 to $5.00" in result
    assert any(e.kind == "cap-raised" for e in h.client.events())
    h.clock.offset = 0.0
    relaunched = await h.launch("H5")
    assert h.client.run(relaunched).cap == 5.0  # type: ignore[union-attr]


async def test_success_writes_the_result_and_keeps_the_plan_bytes(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    run_id = await h.launch("H1")
    run = await h.ended(run_id)
    assert run.state == "succeeded"
    await h.result_written(run_id)
    paths = ProjectPaths(h.project)
    assert sorted(p.name for p in paths.artifacts(run_id).iterdir()) == ["best.pt", "metrics.json"]
    plan = (h.project / "hypotheses.md").read_text(encoding="utf-8")
    row = plan[len(PLAN) :]
    assert plan.startswith(PLAN)  # everything else byte-identical, checkbox untouched
    cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
    assert cells[0] == "1" and cells[2] == "H1" and cells[4] == run_id
    assert cells[5] == "val_loss=0.5" and cells[6] == "adopted" and cells[7] == "iter1_result.md"
    result = (h.project / "iter1_result.md").read_text()
    assert f"| run | {run_id} (attempt 1) |" in result
    assert "| val_loss | 0.5 | 0.5 |" in result
    assert "**adopted** — val_loss = 0.5 meets val_loss <= 0.6." in result


async def test_write_back_never_overwrites_an_edit(make) -> None:  # type: ignore[no-untyped-def]
    from cockpit.supervisor.results import write_result

    h = make()
    run = await h.ended(await h.launch("H2"))
    plan_path = h.project / "hypotheses.md"
    await h.result_written(run.id)
    edited = plan_path.read_text().replace("- [ ] H2: raises", "- [x] H2: raises (seen)")
    plan_path.write_text(edited)
    from dataclasses import replace

    other = replace(run, id="h2-other")
    write_result(plan_path, other, [], {})
    final = plan_path.read_text()
    assert "- [x] H2: raises (seen)" in final and final.startswith(edited)
    assert final.count(f"| {other.id} |") == 1  # the new row, appended to the edited text
    assert (h.project / "iter2_result.md").exists()
    write_result(plan_path, run, [], {})  # a run's result is written once, however often asked
    write_result(plan_path, other, [], {})
    assert plan_path.read_text() == final
    assert not (h.project / "iter3_result.md").exists()


async def test_stall_warns_and_never_stops(make) -> None:  # type: ignore[no-untyped-def]
    h = make("[health]\npoll_seconds = 0.05\nstall_checks = 2\n")
    run_id = await h.launch("H7")
    await async_wait_for(
        lambda: "stalled" in h.client.run(run_id).warnings,  # type: ignore[union-attr]
        what="the stall warning",
    )
    assert h.client.run(run_id).state == "running"  # type: ignore[union-attr]
    assert any(e.kind == "stalled" for e in h.client.events(run_id))


async def test_nan_loss_stops_the_run_as_failed_nan(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    run = await h.ended(await h.launch("H8"))
    assert (run.state, run.failure_class) == ("failed", "nan")
    assert run.failure_line == "step=3 loss=nan lr=0.0003"


async def test_max_parallel_refuses_a_second_run_of_the_plan(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    first = await h.launch("H5")
    status, result, _ = await h.answer(h.request("launch", hypothesis="H7"))
    assert status == "refused"
    assert result == (
        f"hypotheses.md already has 1 active run(s) ({first}); max_parallel is 1 "
        "(concurrent runs multiply GPU spend)"
    )


async def test_notify_command_gets_events_as_json(make) -> None:  # type: ignore[no-untyped-def]
    h = make('[notify]\ncommand = "cat >> events.jsonl"\n')
    run_id = await h.launch("H1")
    await h.ended(run_id)
    events = h.project / "events.jsonl"
    await async_wait_for(lambda: events.exists() and "succeeded" in events.read_text())
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()]
    assert "succeeded" in kinds
    first = json.loads(events.read_text().splitlines()[0])
    assert first["run_id"] == run_id and first["project"] == h.project.name


async def test_preflight_dirty_tree_smoke_and_skip_list(make) -> None:  # type: ignore[no-untyped-def]
    smoke_fails = (
        '[preflight]\nsmoke = "echo smoking {hypothesis}; exit 4"\ntests = "echo tested"\n'
    )
    h = make(smoke_fails, plan=PLAN.replace("- smoke test を skip\n", ""), git=True)
    (h.project / "cockpit.toml").write_text((h.project / "cockpit.toml").read_text() + "\n")
    run = await h.ended(await h.launch("H1"))  # the tree is dirty now
    assert run.failure_class == "preflight" and "uncommitted changes in cockpit.toml" in run.detail
    assert run.handle is None  # nothing was launched
    run = await h.ended(await h.launch("H1", allow_dirty=True))
    assert run.failure_class == "preflight" and run.detail == "pre-flight smoke failed: exit code 4"
    onstart = ProjectPaths(h.project).mirror_log(run.id, "onstart").read_text()
    assert "smoking H1" in onstart and "[preflight] smoke: ✗ fail: exit code 4" in onstart
    assert not (ProjectPaths(h.project).runs / run.id / "run").exists()

    skipping = make(smoke_fails, git=True)  # the default plan's skip list skips the smoke test
    run = await skipping.ended(await skipping.launch("H1"))
    assert run.state == "succeeded"
    onstart = ProjectPaths(skipping.project).mirror_log(run.id, "onstart").read_text()
    assert "[preflight] smoke: – skipped: the plan's skip list skips it" in onstart
    assert "[preflight] tests: ✓ pass" in onstart and "tested" in onstart
    assert onstart.index("[preflight]") < onstart.index("[cockpit] run")  # before the backend


def test_dirty_check_ignores_the_files_cockpit_writes(tmp_path: Path) -> None:
    from cockpit.core.git_tree import dirty_files

    project = write_project(tmp_path / "repo")
    (project / "train.py").write_text("print('v1')\n")
    (project / "iter1_result.md").write_text("# r\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
    with (project / "hypotheses.md").open("a") as handle:
        handle.write("| 1 | row |\n")
    (project / "iter1_result.md").write_text("# r, rewritten\n")
    assert dirty_files(project) == []
    (project / "train.py").write_text("print('v2')\n")
    assert dirty_files(project) == ["train.py"]


async def test_a_result_missed_by_a_stopped_supervisor_is_written_by_the_next(make) -> None:  # type: ignore[no-untyped-def]
    h = make()
    plan_before = (h.project / "hypotheses.md").read_text()
    run = await h.ended(await h.launch("H2"))
    await h.result_written(run.id)
    written = (h.project / "iter1_result.md").read_text()
    assert h.task is not None
    h.task.cancel()  # this supervisor is gone (the lock allows one per project)
    with pytest.raises(asyncio.CancelledError):
        await h.task
    # As if the supervisor had stopped right after the run ended: the stage says wrap-up, and
    # neither the row nor the file nor the event exists. Another supervisor finishes it once.
    h.client.conn.execute("DELETE FROM events WHERE kind = 'result'")
    h.client.conn.execute("UPDATE runs SET stage = 'wrap-up' WHERE id = ?", (run.id,))
    (h.project / "iter1_result.md").unlink()
    (h.project / "hypotheses.md").write_text(plan_before)
    restarted = Supervisor(h.project, load_config(h.project))
    task = asyncio.create_task(restarted.run_forever(idle_exit_s=0))
    await task  # nothing else to do: it writes the result, then exits idle
    assert (h.project / "iter1_result.md").read_text() == written
    assert not (h.project / "iter2_result.md").exists()
    assert (h.project / "hypotheses.md").read_text().count(run.id) == 1
    assert [e.kind for e in h.client.events(run.id)].count("result") == 1
    assert h.client.run(run.id).stage == "done"  # type: ignore[union-attr]


def test_a_repository_without_git_installed_is_refused_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git missing: say so and refuse (unless a dirty tree is allowed), never skip the check
    silently (issue 14, finding 10)."""
    from cockpit.supervisor.preflight import check_git

    project = tmp_path / "repo"
    (project / ".git").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    refused = check_git(project, allow_dirty=False)
    assert refused.status == "fail" and "git is not installed here" in refused.detail
    allowed = check_git(project, allow_dirty=True)
    assert allowed.status == "pass" and "not checked (allowed)" in allowed.detail
    outside = tmp_path / "plain"
    outside.mkdir()
    assert check_git(outside, allow_dirty=False).status == "skipped"  # no repository at all


async def test_a_result_waits_for_a_broken_or_missing_plan_and_is_written_once(make) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, finding 7: a plan unreadable (or gone) when a run ends still gets its result
    file; the iteration-log row follows as soon as the plan is back, exactly once."""
    h = make()
    plan_path = h.project / "hypotheses.md"
    for breakage in ("broken", "missing"):
        before = plan_path.read_text()
        run_id = await h.launch("H4")
        run_dir = ProjectPaths(h.project).runs / run_id / "run"
        started = run_dir / "train.log"
        await async_wait_for(started.exists, what="H4 started")
        if breakage == "broken":
            plan_path.write_text(before + "| 1 | too | few |\n")  # a row with too few cells
        else:
            plan_path.unlink()
        (run_dir / "release").touch()
        (run_dir / "release2").touch()
        await h.ended(run_id)
        await async_wait_for(
            lambda run_id=run_id: any(e.kind == "result-pending" for e in h.client.events(run_id)),
            what="the pending row",
        )
        files = [p for p in h.project.glob("iter*_result.md") if run_id in p.read_text()]
        assert len(files) == 1  # the result file is written already
        plan_path.write_text(before)  # fixed, or back
        await h.result_written(run_id)
        assert plan_path.read_text().count(run_id) == 1
        assert [p for p in h.project.glob("iter*_result.md") if run_id in p.read_text()] == files
        run = h.client.run(run_id)
        assert run is not None and run.stage == "done"
