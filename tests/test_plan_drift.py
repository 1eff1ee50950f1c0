"""Finding 5 of the lose-nothing issue: the id of an unprefixed hypothesis is its position, so
a line inserted above a running one must not hand its result to another hypothesis."""

from __future__ import annotations

from dataclasses import replace

from cockpit.core.paths import ProjectPaths
from cockpit.core.plan import load_plan
from cockpit.core.planbook import PlanEntry
from cockpit.supervisor.results import write_result
from cockpit.ui import viewmodel
from tests.conftest import async_wait_for

PLAN = """# drift — hypotheses without ids

State: in_progress

## Hypotheses
- [ ] first idea
- [ ] second idea
- [ ] third idea (threshold: val_loss <= 0.1)
- [ ] gated run (threshold: val_loss <= 0.6)

## Iteration log
| iter | start | hypothesis | run_id | primary metric | verdict | result |
|---|---|---|---|---|---|---|
"""


async def test_a_line_inserted_above_a_running_hypothesis_keeps_its_result(make) -> None:  # type: ignore[no-untyped-def]
    h = make(plan=PLAN)
    plan_path = h.project / "hypotheses.md"
    run_id = await h.launch("H4")  # "gated run": the stand-in trainer waits for `release`
    run = h.client.run(run_id)
    assert run is not None and run.hypothesis_text == "gated run (threshold: val_loss <= 0.6)"
    run_dir = ProjectPaths(h.project).runs / run_id / "run"
    mirror = ProjectPaths(h.project).mirror_log(run_id, "train")
    await async_wait_for(
        lambda: mirror.exists() and '"step": 99' in mirror.read_text(), what="the gate"
    )
    plan_path.write_text(PLAN.replace("- [ ] first idea", "- [ ] inserted idea\n- [ ] first idea"))

    # The plan list shows the run on the line it was launched for, now H5, not on H4.
    plan = load_plan(plan_path)
    groups = viewmodel.plan_groups(
        {"hypotheses.md": PlanEntry("hypotheses.md", plan, None)}, h.client.runs()
    )
    status = {row.id: row.status for row in groups[0].rows}
    assert status["H5"] == "running" and status["H4"] == "pending"

    (run_dir / "release").write_text("")
    (run_dir / "release2").write_text("")
    assert (await h.ended(run_id)).state == "succeeded"
    await h.result_written(run_id)
    text = plan_path.read_text()
    row = text.splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "H5" and cells[3] == run_id
    assert cells[4] == "val_loss=0.5" and cells[5] == "adopted"  # 0.5 <= 0.6, not <= 0.1
    result = (h.project / "iter1_result.md").read_text()
    assert result.startswith("# iter1 result — H5: gated run (threshold: val_loss <= 0.6)")
    assert "H4 at launch, H5 now" in result
    assert "**adopted** — val_loss = 0.5 meets val_loss <= 0.6." in result
    # The plan list says the verdict written back, not only that it is done.
    await async_wait_for(lambda: h.client.run(run_id).verdict, what="the verdict stored")  # type: ignore[union-attr]
    groups = viewmodel.plan_groups(
        {"hypotheses.md": PlanEntry("hypotheses.md", load_plan(plan_path), None)},
        h.client.runs(),
    )
    shown = {row.id: (row.status, row.verdict) for row in groups[0].rows}
    assert shown["H5"] == ("done", "adopted")

    # The line removed altogether: judged as launched, and the result says it is gone.
    plan_path.write_text(text.replace("- [ ] gated run (threshold: val_loss <= 0.6)\n", ""))
    again = replace(h.client.run(run_id), id=f"{run_id}-again")  # type: ignore[arg-type]
    write_result(plan_path, again, [], {"val_loss": 0.5})
    second = (h.project / "iter2_result.md").read_text()
    assert "is no longer in the plan: edited or removed" in second
    assert "**adopted** — val_loss = 0.5 meets val_loss <= 0.6." in second
    last = [c.strip() for c in plan_path.read_text().splitlines()[-1].strip("|").split("|")]
    assert last[2] == "H4" and last[3] == again.id


def test_named_hypotheses_with_the_same_text_stay_apart() -> None:
    from cockpit.core.plan import parse_plan
    from cockpit.core.run_hypothesis import is_run_of, launched_hypothesis

    plan = parse_plan("# p\n## Hypotheses\n- [ ] H1: stays quiet\n- [ ] H2: stays quiet\n")
    h1, h2 = plan.hypotheses
    assert is_run_of(h1, "H1", "stays quiet") and not is_run_of(h2, "H1", "stays quiet")
    assert launched_hypothesis(plan, "H2", "stays quiet").hypothesis == h2
