"""Gathering what `health.decide` needs about a run: caps, expected duration, progress,
anomalies. Reads only (the store and the plan files); the decisions are elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.core import health
from cockpit.core.config import CockpitConfig
from cockpit.core.plan import Hypothesis, Plan, SkipFlag
from cockpit.core.records import RunRecord
from cockpit.core.run_hypothesis import launched_hypothesis
from cockpit.store.reader import StoreReader


@dataclass
class Progress:
    """The progress metric at each health check of one run, kept by the supervisor."""

    values: list[float | None] = field(default_factory=list)
    last_check: float | None = None


def policy_for(config: CockpitConfig, run: RunRecord) -> health.Policy:
    return health.Policy(
        success_markers=tuple(run.spec.get("success_markers", ())),
        stall_checks=config.health.stall_checks,
        stop_on_nan=config.health.stop_on_nan,
        nan_patience=config.health.nan_patience,
        timeout_factor=config.health.timeout_factor,
        stop_on_timeout=config.health.stop_on_timeout,
        recover_on=frozenset(config.recover.on),
        max_attempts=config.recover.max_attempts,
        backoff_s=config.recover.backoff_seconds,
    )


def run_cap(
    store: StoreReader, config: CockpitConfig, plan_rel: str, hypothesis: Hypothesis | None
) -> float | None:
    """A raise recorded for the hypothesis wins, then `(cap: $N)`, then `[cost] run_cap`."""
    hyp_id = hypothesis.id if hypothesis else None
    raised = store.raised_cap(plan_rel, hyp_id) if hyp_id else None
    if raised is not None:
        return raised
    if hypothesis is not None and hypothesis.cap is not None:
        return hypothesis.cap
    return config.cost.run_cap


def plan_cap(store: StoreReader, config: CockpitConfig, plan_rel: str) -> float | None:
    raised = store.raised_cap(plan_rel, None)
    return raised if raised is not None else config.cost.plan_cap


@dataclass
class PlanFacts:
    """What every run of one plan shares in a poll: read once per plan, not once per run."""

    cost: float
    cap: float | None
    last_success_s: float | None


def plan_facts(store: StoreReader, config: CockpitConfig, plan_rel: str) -> PlanFacts:
    last = (
        None if config.health.expected_minutes is not None else store.last_success_seconds(plan_rel)
    )
    return PlanFacts(store.plan_cost(plan_rel), plan_cap(store, config, plan_rel), last)


def build_facts(
    store: StoreReader,
    config: CockpitConfig,
    run: RunRecord,
    plan: Plan | None,
    progress: Progress,
    logs_drained: bool,
    artifacts: health.ArtifactCheck | None,
    stopping: bool,
    shared: PlanFacts | None = None,
    with_anomalies: bool = True,
) -> health.RunFacts:
    """The facts `health.decide` needs. `shared` is the plan's, read once per poll; the log
    anomalies matter only to a run that exited or diverged (`with_anomalies`)."""
    hypothesis = launched_hypothesis(plan, run.hypothesis, run.hypothesis_text).hypothesis
    shared = shared or plan_facts(store, config, run.plan)
    nan_streak = store.metrics.nan_streak(
        run.id, config.metrics.loss_key, config.health.nan_patience
    )
    anomalies = (
        tuple(health.Anomaly(a.kind, a.source, a.line_no, a.line) for a in store.anomalies(run.id))
        if with_anomalies or nan_streak
        else ()
    )
    if hypothesis is not None and hypothesis.expected_s is not None:
        expected: float | None = hypothesis.expected_s
    elif config.health.expected_minutes is not None:
        expected = config.health.expected_minutes * 60.0
    else:
        expected = shared.last_success_s
    return health.RunFacts(
        state=run.state,
        logs_drained=logs_drained,
        artifacts=artifacts,
        stopping=stopping,
        started_at=run.started_at,
        cost_so_far=run.cost_so_far,
        cap=run_cap(store, config, run.plan, hypothesis),
        plan_cost=shared.cost,
        plan_cap=shared.cap,
        progress=tuple(progress.values),
        nan_streak=nan_streak,
        anomalies=anomalies,
        expected_s=expected,
        attempt=run.attempt,
        warnings=run.warnings,
        monitor_only=plan is not None and SkipFlag.MONITOR_ONLY in plan.flags,
        plan_state=plan.state if plan else None,
    )
