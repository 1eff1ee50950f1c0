"""What a loop leaves when it ends: a report next to the plan, one line in its iteration log,
and the plan's state header (see `loops`).

The report, `loop_<date>_report.md`: the ticks done against the maximum, the verdicts counted,
the best run by the plan's primary metric (the metric most of its thresholds name) with its run
id, each tick's result file, and why the loop stopped.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

from cockpit.core.plan import PlanError, load_plan
from cockpit.core.records import LoopRecord, RunRecord
from cockpit.core.run_hypothesis import launched_hypothesis
from cockpit.supervisor.context import Context
from cockpit.supervisor.plan_edit import PlanUnavailable, add_log_row, set_plan_state
from cockpit.supervisor.results import lower_is_better, match_columns, written_for


def write_report(
    ctx: Context,
    loop: LoopRecord,
    runs: list[RunRecord],
    state: str | None,
    reason: str,
    path: Path,
) -> None:
    plan_path = ctx.project / loop.plan
    folder = plan_path.parent
    try:
        plan = load_plan(plan_path)
    except (PlanError, OSError):
        plan = None
    metric = _primary_metric(plan, runs)
    best: tuple[float, RunRecord] | None = None
    rows = []
    for run in runs:
        value = None
        if metric is not None and (stats := ctx.reader.metrics.stats(run.id, metric)):
            value = stats[0]  # its last value
            better = best is None or (
                value < best[0] if lower_is_better(metric) else value > best[0]
            )
            if run.verdict is not None and better and run.state == "succeeded":
                best = (value, run)
        result = "—"
        if plan is not None:
            row_iter, file_iter = written_for(plan, folder, run.id)
            if (found := row_iter or file_iter) is not None:
                result = f"[iter{found}_result.md](iter{found}_result.md)"
        shown = "—" if value is None else f"{value:.4g}"
        rows.append(
            f"| {run.loop_iter} | {run.hypothesis} | {run.id} | {run.state} | "
            f"{run.verdict or '—'} | {shown} | {result} |"
        )
    counts = collections.Counter(run.verdict or run.state for run in runs)
    now = ctx.clock()
    lines = [
        f"# Loop report: {loop.plan}",
        "",
        f"- loop: `{loop.id}`, {time.strftime('%Y-%m-%d %H:%M', time.localtime(loop.started_at))}"
        f" → {time.strftime('%Y-%m-%d %H:%M', time.localtime(now))}",
        f"- ticks: {loop.ticks} / {loop.max_ticks if loop.max_ticks else 'no maximum'}",
        "- verdicts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
        "- best run"
        + (f" by {metric}: `{best[1].id}` ({best[1].hypothesis}, {metric} = {best[0]:.4g})"
           if best and metric else ": none adopted or measured"),
        f"- cost: ${sum(run.cost_so_far for run in runs):.2f}",
        f"- stopped: {reason}" + (f" (plan state set to `{state}`)" if state else ""),
        "",
        "| iter | hypothesis | run | state | verdict | "
        + (metric or "primary metric") + " | result |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]  # fmt: skip
    path.write_text("\n".join(lines), encoding="utf-8")


def _primary_metric(plan: object, runs: list[RunRecord]) -> str | None:
    named: collections.Counter[str] = collections.Counter()
    for run in runs:
        hypothesis = launched_hypothesis(
            plan if plan is not None else None,  # type: ignore[arg-type]
            run.hypothesis,
            run.hypothesis_text,
        ).hypothesis
        if hypothesis is not None and hypothesis.threshold is not None:
            named[hypothesis.threshold.metric] += 1
    return named.most_common(1)[0][0] if named else None


def end_loop_in_plan(
    plan_path: Path, loop: LoopRecord, state: str | None, reason: str, report: str
) -> None:
    """One iteration-log line with the reason (once: keyed by the loop's id), and the state
    header's value (not when the researcher set the state: `state` is None then)."""
    cells = {
        "iter": "—",
        "start": time.strftime("%Y-%m-%d %H:%M", time.localtime(loop.started_at)),
        "hypothesis": "loop",
        "run_id": loop.id,
        "run id": loop.id,
        "verdict": f"loop {state or 'ended'}: {reason}",
        "result": report,
    }
    try:
        add_log_row(plan_path, loop.id, lambda now: match_columns(now, cells))
        if state is not None:
            set_plan_state(plan_path, state)
    except PlanUnavailable:
        pass  # the report says it all; the plan cannot be written now
