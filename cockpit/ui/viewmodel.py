"""From store rows and plans to the plain data the widgets show. No Textual here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cockpit.core.config import CockpitConfig
from cockpit.core.plan import Hypothesis
from cockpit.core.planbook import PlanEntry
from cockpit.core.protocol import INFO_WARNINGS, Guard, RunState, RunWarning
from cockpit.core.records import RunRecord
from cockpit.core.run_hypothesis import is_run_of
from cockpit.store.reader import StoreReader
from widgets.cost_meter import CostReading
from widgets.hypothesis_list import HypothesisRow, PlanGroup
from widgets.run_header import RunSummary
from widgets.sparklines import MetricSeries

RUN_TO_STATUS: dict[RunState, str] = {
    RunState.QUEUED: "queued",
    RunState.STARTING: "starting",
    RunState.RUNNING: "running",
    RunState.SUCCEEDED: "done",
    RunState.FAILED: "failed",
    RunState.STOPPED: "stopped",
    RunState.CAP_EXCEEDED: "cap-exceeded",
}
"""The plan list's status word for each run state (a test holds it complete)."""


class LatestRuns:
    """The newest run of each hypothesis, found by the text it was launched for (an unprefixed
    id is a position, which moves) or by a named id; `runs` come newest first."""

    def __init__(self, runs: Iterable[RunRecord]) -> None:
        self._by_text: dict[tuple[str, str | None], RunRecord] = {}
        self._by_id: dict[tuple[str, str], RunRecord] = {}
        for run in runs:
            self._by_text.setdefault((run.plan, run.hypothesis_text), run)
            self._by_id.setdefault((run.plan, run.hypothesis.lower()), run)

    def of(self, rel: str, hyp: Hypothesis) -> RunRecord | None:
        candidates = (self._by_text.get((rel, hyp.text)), self._by_id.get((rel, hyp.id.lower())))
        found = [
            run for run in candidates
            if run is not None and is_run_of(hyp, run.hypothesis, run.hypothesis_text)
        ]  # fmt: skip
        return max(found, key=lambda run: run.created_at, default=None)


def run_of_row(entries: dict[str, PlanEntry], runs: list[RunRecord], key: str) -> RunRecord | None:
    """The newest run of the plan list's row `key` (`<plan>:<id>`)."""
    plan, _, hyp_id = key.rpartition(":")
    entry = entries.get(plan)
    hyp = entry.plan.hypothesis(hyp_id) if entry and entry.plan else None
    return LatestRuns(runs).of(plan, hyp) if hyp else None


def plan_groups(entries: dict[str, PlanEntry], runs: list[RunRecord]) -> tuple[PlanGroup, ...]:
    latest = LatestRuns(runs)
    groups = []
    for rel, entry in sorted(entries.items()):
        plan = entry.plan
        if plan is None:
            groups.append(PlanGroup(key=rel, title=rel, state=None, error=entry.error))
            continue
        rows = []
        for hyp in plan.hypotheses:
            run = latest.of(rel, hyp)
            status = RUN_TO_STATUS[run.state] if run else "pending"
            verdict = run.verdict if run is not None and not run.active else None
            rows.append(
                HypothesisRow(f"{rel}:{hyp.id}", hyp.id, hyp.text, status, hyp.done, verdict)
            )
        known = tuple(sorted({flag.value for flag in plan.flags}))
        unknown = tuple(item.text for item in plan.skip_items if not item.flags)
        title = plan.title if len(entries) == 1 else f"{plan.title}  ({rel})"
        groups.append(
            PlanGroup(
                key=rel,
                title=title,
                state=plan.state,
                flags=known,
                skip_lines=unknown,
                rows=tuple(rows),
                error=entry.error,
            )
        )
    return tuple(groups)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def enforced_max_attempts(enforced: dict[str, Any], config: CockpitConfig) -> int:
    """Auto-recover's attempts as the supervisor enforces them (`meta.enforced`), else the
    file's (no supervisor has said yet)."""
    recover = enforced.get("recover")
    if isinstance(recover, dict) and isinstance(recover.get("max_attempts"), int):
        return int(recover["max_attempts"])
    return config.recover.max_attempts


def uptime(run: RunRecord, now: float) -> float:
    if run.state == RunState.QUEUED:  # how long it has waited for a place
        return max(0.0, now - run.created_at)
    if run.active and run.started_at is not None:
        return max(run.uptime_s, now - run.started_at)
    return run.uptime_s


def run_summary(
    run: RunRecord | None, now: float, max_attempts: int = 1, why: str = ""
) -> RunSummary | None:
    if run is None:
        return None
    where = (
        f"{run.failure_source}:{run.failure_line_no}"
        if run.failure_source and run.failure_line_no
        else None
    )
    return RunSummary(
        run_id=run.id,
        hypothesis=run.hypothesis if "/" not in run.plan else f"{run.hypothesis} ({run.plan})",
        backend=placed_on(run),
        state=run.state,
        uptime_s=uptime(run, now),
        commit=run.commit,
        detail=run.detail,
        failure_class=run.failure_class,
        failure_line=run.failure_line,
        failure_where=where,
        warnings=tuple(w for w in run.warnings if w not in INFO_WARNINGS),
        attempt=run.attempt,
        max_attempts=max_attempts,
        guard=run.guard if run.guard_kind != Guard.STOPPED_ON_REQUEST else "",
        command=str(run.spec.get("command", "")) if isinstance(run.spec, dict) else "",
        why=why,
        pending=run.state == RunState.QUEUED or (run.active and RunWarning.PENDING in run.warnings),
    )


def placed_on(run: RunRecord) -> str:
    """Where a run is: its backend, and the GPUs it was placed on ("lab1 GPU 0,1")."""
    if not run.gpus:
        return run.backend
    return f"{run.backend} GPU {','.join(str(index) for index in run.gpus)}"


@dataclass(frozen=True)
class CostFacts:
    """What the cost meter needs from the store besides the run itself, read off the UI's
    event loop (`store_feed`); the reading is then worked out at every tick of the clock."""

    plan_cost: float
    """All runs of the run's plan together, as last stored."""
    today: float
    """Everything since local midnight, as last stored."""
    progress: tuple[tuple[float, float], ...]
    """The last (time, step) samples of the progress metric."""
    total_steps: float | None


def cost_facts(reader: StoreReader, run: RunRecord, config: CockpitConfig, now: float) -> CostFacts:
    total = reader.metrics.samples(run.id, "total_steps", 1)
    return CostFacts(
        plan_cost=reader.plan_cost(run.plan),
        today=reader.cost_since(_local_midnight(now)),
        progress=tuple(reader.metrics.samples(run.id, config.metrics.progress_key, 50)),
        total_steps=total[-1][1] if total else config.cost.total_steps,
    )


def cost_reading(
    run: RunRecord | None, now: float, facts: CostFacts | None = None
) -> CostReading | None:
    """Cost so far (ticking between polls), the cap, plan and today's totals, and — when the
    run's total steps are known — ETA, projected cost and $ per 1000 steps."""
    if run is None:
        return None
    elapsed = uptime(run, now)
    queued = run.state == RunState.QUEUED  # waiting for a place: nothing runs, nothing bills
    pending = queued or (run.active and RunWarning.PENDING in run.warnings)
    cost = (
        max(run.cost_so_far, run.cost_per_hour * elapsed / 3600.0)
        if run.active and not queued
        else run.cost_so_far
    )
    reading = CostReading(run.cost_per_hour, elapsed, cost, run.cap, pending=pending)
    if facts is None:
        return reading
    plan_cost = facts.plan_cost + (cost - run.cost_so_far)
    today = facts.today + (cost - run.cost_so_far)
    progress, total_steps = facts.progress, facts.total_steps
    eta_s = projected = per_1k = None
    if progress:
        step = progress[-1][1]
        per_1k = cost / step * 1000 if step > 0 else None
        if total_steps and len(progress) >= 2 and run.active:
            (t0, s0), (t1, s1) = progress[0], progress[-1]
            if t1 > t0 and s1 > s0:
                eta_s = max(0.0, (total_steps - step) / ((s1 - s0) / (t1 - t0)))
                projected = cost + run.cost_per_hour * eta_s / 3600.0
    note = (
        "⚠ a stopped pod still bills its volume" if RunWarning.STILL_BILLING in run.warnings else ""
    )
    return CostReading(
        run.cost_per_hour, elapsed, cost, run.cap,
        plan_cost=plan_cost, today=today, eta_s=eta_s, projected=projected, per_1k_steps=per_1k,
        note=note, pending=pending,
    )  # fmt: skip


def _local_midnight(now: float) -> float:
    local = time.localtime(now)
    return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))


def _series(reader: StoreReader, run_id: str, key: str, label: str, note: str = "") -> MetricSeries:
    stats = reader.metrics.stats(run_id, key)
    if stats is None:
        return MetricSeries(label, note=note)
    values, steps = reader.metrics.overview(run_id, key, points=SPARK_POINTS)
    last, low, high = stats
    return MetricSeries(label, tuple(values), last, low, high, steps=steps)


SPARK_POINTS = 240
"""The whole run in at most this many means: a sparkline on the widest terminal is narrower."""


def gpu_note(run: RunRecord | None) -> str:
    """What the GPU sparklines say instead of numbers, from the supervisor's warning."""
    if run is not None and RunWarning.GPU_UNAVAILABLE in run.warnings:
        return "no NVIDIA GPU on this host"
    return ""


def metric_series(
    reader: StoreReader, run: RunRecord | None, config: CockpitConfig
) -> dict[str, MetricSeries]:
    if run is None:
        return {}
    note = gpu_note(run)
    keys = reader.metrics.keys(run.id)
    val_key = config.metrics.val_key
    if val_key is None:
        val_key = next(
            (key for key in keys if key.startswith(("val", "eval")) and "runtime" not in key),
            None,
        )
    return {
        "loss": _series(reader, run.id, config.metrics.loss_key, config.metrics.loss_key),
        "val": _series(reader, run.id, val_key, val_key[:10])
        if val_key
        else MetricSeries("val", note="no val metric yet"),
        "gpu": _series(reader, run.id, _gpu_key(keys, "gpu_util"), "GPU %", note),
        "vram": _series(reader, run.id, _gpu_key(keys, "gpu_mem"), "VRAM %", note),
    }


def _gpu_key(keys: list[str], key: str) -> str:
    """nvidia-smi's samples when there are any, else the provider's (RunPod's runtime.gpus)."""
    return key if key in keys or f"pod_{key}" not in keys else f"pod_{key}"


def choose_shown(
    entries: dict[str, PlanEntry],
    runs: list[RunRecord],
    highlighted: str | None,
    opened: RunRecord | None = None,
) -> tuple[RunRecord | None, str]:
    """The run the panes show, and why — what every action then applies to: the run opened
    from the runs view; else the newest run of the hypothesis under the cursor (none when it
    has none: never another hypothesis's run); else, with no hypothesis under the cursor,
    the active run or the newest."""
    if opened is not None:
        current = next((run for run in runs if run.id == opened.id), opened)
        return current, "opened from the runs view (move the cursor to go back)"
    if highlighted:
        run = run_of_row(entries, runs, highlighted)
        if run is None:
            return None, ""
        count = sum(1 for r in runs if (r.plan, r.hypothesis) == (run.plan, run.hypothesis))
        return run, f"latest of {count} runs of {run.hypothesis}" if count > 1 else ""
    active = next((run for run in runs if run.active), None)
    if active is not None:
        return active, "the active run"
    return (runs[0], "the newest run") if runs else (None, "")


def why_no_run(read_only: bool, highlighted: str | None) -> str:
    """What the run header says with no run to show: it knows what the cursor is on."""
    if not highlighted:
        return "no run yet" if read_only else "no run yet — select a hypothesis"
    if read_only:
        return f"{highlighted.rpartition(':')[2]} has no run yet"
    return f"{highlighted.rpartition(':')[2]} has no run yet — l launches it"
