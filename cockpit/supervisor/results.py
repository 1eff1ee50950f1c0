"""Writing a finished run back into the plan: `iter<N>_result.md` and one iteration-log row.

The plan file is the researcher's: only the new row's bytes are added, the checkbox is never
ticked (that is the analyst's call), and an edit made on disk while cockpit was writing is never
overwritten (`plan_edit` says how).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cockpit.core.plan import (
    Hypothesis,
    Plan,
    PlanError,
    parse_plan,
)
from cockpit.core.records import RunRecord
from cockpit.core.run_hypothesis import launched_hypothesis
from cockpit.supervisor.plan_edit import EditKeptAside, PlanUnavailable, add_log_row

_LOWER_IS_BETTER = re.compile(r"loss|err|perplexity|ppl|wer|cer|mse|mae|rmse|regret", re.I)


@dataclass(frozen=True)
class MetricSummary:
    key: str
    final: float | None
    best: float | None


@dataclass(frozen=True)
class Decision:
    verdict: str
    """adopted, rejected or inconclusive."""
    reason: str
    primary: str
    """`metric=value` for the iteration log, or an em dash."""


def lower_is_better(key: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(key))


def decide_verdict(
    hypothesis: Hypothesis | None, run: RunRecord, final_metrics: dict[str, float]
) -> Decision:
    threshold = hypothesis.threshold if hypothesis else None
    if threshold is None:
        return Decision("inconclusive", "the hypothesis gives no threshold", "—")
    value = final_metrics.get(threshold.metric)
    primary = f"{threshold.metric}={value:.4g}" if value is not None else "—"
    if run.state != "succeeded":
        return Decision("inconclusive", f"the run {run.state}; {threshold} not judged", primary)
    if value is None:
        return Decision("inconclusive", f"no {threshold.metric} was measured", primary)
    if threshold.holds(value):
        return Decision("adopted", f"{threshold.metric} = {value:.4g} meets {threshold}", primary)
    return Decision("rejected", f"{threshold.metric} = {value:.4g} misses {threshold}", primary)


def next_iteration(plan: Plan, folder: Path) -> int:
    numbers = [0]
    for row in plan.log_rows:
        if row and row[0].strip().isdigit():
            numbers.append(int(row[0]))
    for existing in folder.glob("iter*_result.md"):
        match = re.fullmatch(r"iter(\d+)_result\.md", existing.name)
        if match:
            numbers.append(int(match[1]))
    return max(numbers) + 1


def written_for(plan: Plan, folder: Path, run_id: str) -> tuple[int | None, int | None]:
    """The iteration of the log row and of the result file already written for `run_id`."""
    row_iteration = None
    for row in plan.log_rows:
        if run_id in (cell.strip() for cell in row) and row and row[0].strip().isdigit():
            row_iteration = int(row[0])
    file_iteration = None
    marker = f"| run | {run_id} "
    for existing in folder.glob("iter*_result.md"):
        match = re.fullmatch(r"iter(\d+)_result\.md", existing.name)
        if match:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if marker in existing.read_text(encoding="utf-8"):
                    file_iteration = int(match[1])
    return row_iteration, file_iteration


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "—"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def render_result(
    iteration: int,
    run: RunRecord,
    hypothesis: Hypothesis | None,
    metrics: list[MetricSummary],
    decision: Decision,
    note: str = "",
) -> str:
    title = f"{hypothesis.id}: {hypothesis.text}" if hypothesis else run.hypothesis
    lines = [
        f"# iter{iteration} result — {title}",
        "",
        "| | |",
        "|---|---|",
        f"| run | {run.id} (attempt {run.attempt}"
        + (f", relaunch of {run.parent}" if run.parent else "")
        + ") |",
        f"| state | {run.state} |",
        f"| commit | {run.commit} |",
        f"| hypothesis | {hypothesis.id if hypothesis else run.hypothesis} ({run.plan})"
        + (f"; {note}" if note else "")
        + " |",
        f"| backend | {run.backend} |",
        f"| start | {_when(run.started_at or run.created_at)} |",
        f"| end | {_when(run.ended_at)} |",
        f"| cost | ${run.cost_so_far:.2f} (${run.cost_per_hour:.2f}/h) |",
        "",
        "## Numbers",
        "",
    ]
    if metrics:
        lines += ["| metric | final | best |", "|---|---|---|"]
        lines += [f"| {m.key} | {_fmt(m.final)} | {_fmt(m.best)} |" for m in metrics]
    else:
        lines.append("No metric was measured.")
    lines += ["", "## Diagnosis", ""]
    if run.state == "succeeded":
        lines.append("Succeeded: exited 0 with every success marker present and readable.")
    else:
        lines.append(f"State: {run.state}. {run.detail}")
        if run.failure_class:
            where = (
                f" ({run.failure_source} log, line {run.failure_line_no})"
                if run.failure_line_no
                else ""
            )
            lines += ["", f"Failure class: **{run.failure_class}**{where}:", ""]
            lines += ["```text", run.failure_line or "", "```"]
        if run.guard:
            lines += ["", f"Not relaunched: {run.guard}."]
    lines += ["", "## Decision", "", f"**{decision.verdict}** — {decision.reason}.", ""]
    return "\n".join(lines)


class RowPending(Exception):
    """The result file is written but the iteration-log row cannot be yet: the plan is missing
    or unreadable. A later call (when the plan is back) adds the row, once."""

    def __init__(self, path: Path | None, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(why)


@dataclass(frozen=True)
class Written:
    path: Path
    """The `iter<N>_result.md`."""
    kept_aside: Path | None = None
    """Where an edit that raced the plan's replace was kept, when it could not be merged."""
    verdict: str | None = None
    """adopted, rejected, inconclusive, or how the run failed (`failed (oom)`)."""


def write_result(
    plan_path: Path,
    run: RunRecord,
    metrics: list[MetricSummary],
    final_metrics: dict[str, float],
) -> Written:
    """Write `iter<N>_result.md` next to the plan and add its iteration-log row, once per run:
    a second call (a supervisor that died before it recorded the first) finds the row or the
    file the first one wrote and completes what is missing. A missing or unreadable plan still
    gets the file; `RowPending` says the row waits. The row never overwrites an edit."""
    try:
        plan = parse_plan(plan_path.read_bytes().decode("utf-8"), plan_path)
    except (OSError, UnicodeDecodeError, PlanError) as exc:
        why = (
            f"{plan_path.name} is missing"
            if isinstance(exc, FileNotFoundError)
            else f"{plan_path.name} cannot be read: {exc}"
        )
        if not plan_path.parent.is_dir():
            raise RowPending(None, why) from exc
        raise RowPending(
            _write_file_only(plan_path.parent, run, metrics, final_metrics), why
        ) from exc
    located = launched_hypothesis(plan, run.hypothesis, run.hypothesis_text)
    hypothesis = located.hypothesis
    row_iteration, file_iteration = written_for(plan, plan_path.parent, run.id)
    iteration = row_iteration or file_iteration or next_iteration(plan, plan_path.parent)
    result_path = plan_path.parent / f"iter{iteration}_result.md"
    decision = decide_verdict(hypothesis, run, final_metrics)
    if file_iteration != iteration:
        result_path.write_text(
            render_result(iteration, run, hypothesis, metrics, decision, located.note)
        )
    verdict = decision.verdict if run.state == "succeeded" else _failed_verdict(run)
    if row_iteration is not None or not plan.log_columns:
        return Written(result_path, verdict=verdict)
    cells = {
        "iter": str(iteration),
        "start": _when(run.started_at or run.created_at),
        "hypothesis": hypothesis.id if located.in_plan and hypothesis else run.hypothesis,
        "run_id": run.id,
        "run id": run.id,
        "primary metric": decision.primary,
        "verdict": verdict,
        "result": result_path.name,
    }
    try:
        add_log_row(plan_path, run.id, lambda now: match_columns(now, cells))
    except PlanUnavailable as exc:
        raise RowPending(result_path, str(exc)) from exc
    except EditKeptAside as kept:
        return Written(result_path, kept.aside, verdict)
    return Written(result_path, verdict=verdict)


def _write_file_only(
    folder: Path, run: RunRecord, metrics: list[MetricSummary], final_metrics: dict[str, float]
) -> Path:
    """The result file without the plan: the hypothesis as the run was launched for it."""
    numbers = [0]
    marker = f"| run | {run.id} "
    for existing in folder.glob("iter*_result.md"):
        match = re.fullmatch(r"iter(\d+)_result\.md", existing.name)
        if match is None:
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if marker in existing.read_text(encoding="utf-8"):
                return existing  # written already
        numbers.append(int(match[1]))
    iteration = max(numbers) + 1
    path = folder / f"iter{iteration}_result.md"
    located = launched_hypothesis(None, run.hypothesis, run.hypothesis_text)
    decision = decide_verdict(located.hypothesis, run, final_metrics)
    note = "the plan could not be read when the run ended" if located.hypothesis else ""
    path.write_text(render_result(iteration, run, located.hypothesis, metrics, decision, note))
    return path


def _failed_verdict(run: RunRecord) -> str:
    if run.state == "failed" and run.failure_class:
        return f"failed ({run.failure_class})"
    return run.state


def match_columns(plan: Plan, cells: dict[str, str]) -> dict[str, str]:
    matched = {}
    for column in plan.log_columns:
        key = column.strip().lower().replace("_", " ")
        value = cells.get(key) or cells.get(key.replace(" ", "_"))
        matched[column] = value if value is not None else "—"
    return matched


def summarise_metrics(
    stats: dict[str, tuple[float, float, float]], final_json: dict[str, object] | None
) -> tuple[list[MetricSummary], dict[str, float]]:
    """Final and best value of each metric from its (last, min, max); the metrics JSON's
    numbers are the final values where it has them."""
    summaries = [
        MetricSummary(key, last, low if lower_is_better(key) else high)
        for key, (last, low, high) in sorted(stats.items())
    ]
    finals = {key: last for key, (last, _, _) in stats.items()}
    for key, value in (final_json or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            finals[key] = float(value)
            if key not in stats:
                summaries.append(MetricSummary(key, float(value), None))
    return summaries, finals


def read_metrics_json(folder: Path) -> dict[str, object] | None:
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if isinstance(data, dict):
            return data
    return None
