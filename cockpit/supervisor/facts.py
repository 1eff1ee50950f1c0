"""Gathering what `health.decide` needs about a run: caps, expected duration, progress,
anomalies. Reads only (the store and the plan files); the decisions are elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit import health
from cockpit.config import CockpitConfig
from cockpit.plan import Hypothesis, Plan, SkipFlag
from cockpit.records import RunRecord
from cockpit.store import StoreReader


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


def expected_seconds(
    store: StoreReader, config: CockpitConfig, plan_rel: str, hypothesis: Hypothesis | None
) -> float | None:
    """From the hypothesis, else the config, else the last successful run of the plan."""
    if hypothesis is not None and hypothesis.expected_s is not None:
        return hypothesis.expected_s
    if config.health.expected_minutes is not None:
        return config.health.expected_minutes * 60.0
    return store.last_success_seconds(plan_rel)


def build_facts(
    store: StoreReader,
    config: CockpitConfig,
    run: RunRecord,
    plan: Plan | None,
    progress: Progress,
    logs_drained: bool,
    artifacts: health.ArtifactCheck | None,
    stopping: bool,
) -> health.RunFacts:
    hypothesis = plan.hypothesis(run.hypothesis) if plan else None
    anomalies = tuple(
        health.Anomaly(a.kind, a.source, a.line_no, a.line) for a in store.anomalies(run.id)
    )
    return health.RunFacts(
        state=run.state,
        logs_drained=logs_drained,
        artifacts=artifacts,
        stopping=stopping,
        started_at=run.started_at,
        cost_so_far=run.cost_so_far,
        cap=run_cap(store, config, run.plan, hypothesis),
        plan_cost=store.plan_cost(run.plan),
        plan_cap=plan_cap(store, config, run.plan),
        progress=tuple(progress.values),
        nan_streak=store.nan_streak(run.id, config.metrics.loss_key, config.health.nan_patience),
        anomalies=anomalies,
        expected_s=expected_seconds(store, config, run.plan, hypothesis),
        attempt=run.attempt,
        warnings=run.warnings,
        monitor_only=plan is not None and SkipFlag.MONITOR_ONLY in plan.flags,
        plan_state=plan.state if plan else None,
    )
