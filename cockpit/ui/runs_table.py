"""The runs view's table, as data: one row per run with its primary metric, the cells shown,
the sort orders and the filter. Pure (the metric is read by the caller, in a thread)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cockpit.core.records import RunRecord
from widgets.cost_meter import format_dollars
from widgets.run_header import STATE_MARK, format_duration

COLUMNS = ("id", "hyp", "plan", "state", "backend", "started", "time", "cost", "metric")
"""In the order shown; keys 1–9 sort by them."""

FILTER_FIELDS = ("state", "plan", "backend", "hypothesis", "verdict")
"""`field:text` terms of the filter."""


@dataclass(frozen=True)
class RunRow:
    run: RunRecord
    metric: tuple[str, float] | None = None
    """The run's primary metric (the validation metric) and its last value."""

    @property
    def outcome(self) -> str:
        """The state, or the verdict written back for a finished run."""
        return self.run.verdict or self.run.state


def primary_key(keys: list[str], configured: str | None) -> str | None:
    """The validation metric the sparklines show: the configured one, else the first
    `val_*`/`eval_*` key."""
    if configured is not None:
        return configured if configured in keys else None
    return next(
        (key for key in keys if key.startswith(("val", "eval")) and "runtime" not in key), None
    )


def duration(run: RunRecord, now: float) -> float:
    if run.started_at is None:
        return 0.0
    end = run.ended_at if run.ended_at is not None else now
    return max(run.uptime_s, end - run.started_at)


def cells(row: RunRow, now: float) -> tuple[str, ...]:
    run = row.run
    mark = STATE_MARK.get(run.state, "?")
    started = time.strftime("%m-%d %H:%M", time.localtime(run.started_at or run.created_at))
    metric = f"{row.metric[0]} {row.metric[1]:.4g}" if row.metric else "—"
    return (
        run.id, run.hypothesis, run.plan, f"{mark} {row.outcome}", run.backend, started,
        format_duration(duration(run, now)), format_dollars(run.cost_so_far), metric,
    )  # fmt: skip


def sort_key(column: str, now: float) -> Callable[[RunRow], Any]:
    keys: dict[str, Callable[[RunRow], Any]] = {
        "id": lambda row: row.run.id,
        "hyp": lambda row: (row.run.plan, row.run.hypothesis),
        "plan": lambda row: row.run.plan,
        "state": lambda row: row.outcome,
        "backend": lambda row: row.run.backend,
        "started": lambda row: row.run.started_at or row.run.created_at,
        "time": lambda row: duration(row.run, now),
        "cost": lambda row: row.run.cost_so_far,
        # Runs without the metric sort after those with it, whichever the direction.
        "metric": lambda row: (row.metric is not None, row.metric[1] if row.metric else 0.0),
    }
    return keys[column]


def matches(row: RunRow, query: str) -> bool:
    """Every term matches: `state:failed`, `plan:lr`, `backend:pod`, `verdict:adopted`,
    `hypothesis:H3`, or plain text found in any cell (case-insensitive)."""
    run = row.run
    fields = {
        "state": f"{run.state} {row.outcome}",
        "plan": run.plan,
        "backend": run.backend,
        "hypothesis": run.hypothesis,
        "verdict": run.verdict or "",
    }
    anywhere = " ".join([run.id, *fields.values(), run.detail]).lower()
    for term in query.lower().split():
        name, colon, text = term.partition(":")
        if colon and name in fields:
            if text not in fields[name].lower():
                return False
        elif term not in anywhere:
            return False
    return True
