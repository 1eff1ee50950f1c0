"""Watching runs: observe every backend once per poll, let `health.decide` judge each run, and
carry out its actions (state changes, warnings, notifications, stop + terminate, the terminal
state with its relaunch or guard).

Isolation: an error while observing one backend or handling one run is recorded against those
runs (an event and the `control-failed` warning; a failure that repeats is said once, then
counted) and never stops the others. Every active run's cost cap is checked on every poll, by
`decide` when its handling succeeds and by `enforce_caps` when it did not.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from backends.base import Observation, RunHandle, RunPhase
from cockpit.core import health
from cockpit.core.protocol import TERMINAL_STATES, RunState, RunWarning, Stage
from cockpit.core.records import RunRecord
from cockpit.supervisor.artifacts import check_artifacts
from cockpit.supervisor.context import Context, describe, log
from cockpit.supervisor.endings import Endings, StopIntent
from cockpit.supervisor.health_facts import PlanFacts, build_facts, plan_cap, plan_facts, policy_for
from cockpit.supervisor.log_pumps import Pumps
from cockpit.supervisor.terminate import billed

COST_SAMPLE_EVERY_S = 10.0
OBSERVE_WAIT_S = 5.0
"""How long a poll waits for a backend's observation before it goes on without it."""
REPEAT_NOTE_AT = 3
"""A run's handling failing the same way this many polls in a row is said once more, plainly;
after that the repeats are only counted."""


@dataclass
class _Failing:
    signature: str
    count: int = 1


class Lifecycle:
    def __init__(self, ctx: Context, pumps: Pumps, endings: Endings) -> None:
        self.ctx = ctx
        self.pumps = pumps
        self.endings = endings
        self._failing: dict[str, _Failing] = {}
        self._plan_facts: dict[str, PlanFacts] = {}
        self._observing: dict[str, asyncio.Task[dict[str, Observation] | None]] = {}
        """Observations under way, by backend (at most one each)."""
        self._asked: dict[str, list[str]] = {}
        self._asked_at: dict[str, float] = {}
        self._before_outage: dict[str, str] = {}
        """Run id: its detail before its backend stopped answering."""

    async def observe_and_decide(self) -> None:
        ctx = self.ctx
        active = ctx.reader.active_runs()
        active_ids = {run.id for run in active}
        for run_id in list(self.pumps.tracked):  # a run that left the store (or ended elsewhere)
            if run_id not in active_ids and not self.endings.stopping(run_id):
                self.pumps.forget(run_id, cancel=True)
        watched: dict[str, list[tuple[RunRecord, RunHandle]]] = defaultdict(list)
        for run in active:
            if run.handle is None or run.stage is not Stage.NONE:
                continue  # launching or stopping: those paths own the run
            handle = RunHandle.from_json(run.handle)
            if self.pumps.track(run.id, handle).stopping:
                continue
            watched[handle.backend].append((run, handle))
        decided: set[str] = set()
        self._plan_facts = {}  # this poll's, per plan
        for _name, pairs, observations in await self._observe_all(watched):
            for run, _ in pairs:
                obs = observations.get(run.id) if observations is not None else None
                if obs is None:
                    continue
                try:
                    if obs.phase is RunPhase.UNKNOWN:
                        # Unreachable is never a failure: say so, keep the last known state.
                        self._unreachable(run, obs.detail)
                        continue
                    run = self._reachable(run)
                    await self.apply(run, obs)
                    decided.add(run.id)
                    self._recovered(run.id)
                except Exception as exc:
                    self._failed(run.id, "health check", exc)
        self.enforce_caps([run for run in active if run.id not in decided])

    async def _observe_all(
        self, watched: dict[str, list[tuple[RunRecord, RunHandle]]]
    ) -> list[tuple[str, list[tuple[RunRecord, RunHandle]], dict[str, Observation] | None]]:
        """Every backend's observation, asked concurrently, each beside the poll: one that
        has not answered within OBSERVE_WAIT_S (a hung host) is left to finish while the poll
        goes on — its runs get the blind cap check, requests and the heartbeat keep going —
        and its answer is used by the poll that finds it done (no second ask meanwhile)."""
        ready = []
        waiting: dict[asyncio.Task[dict[str, Observation] | None], str] = {}
        for name, pairs in watched.items():
            task = self._observing.get(name)
            if task is not None and task.done():
                del self._observing[name]
                self._asked_at.pop(name, None)
                asked = self._asked.pop(name, [])
                ready.append((name, [p for p in pairs if p[0].id in asked], task.result()))
                continue
            if task is not None:  # still asking (a hung host): not again, not waited for
                self._not_answering(name, pairs)
                continue
            task = asyncio.get_running_loop().create_task(
                self._observe(name, pairs), name=f"observe:{name}"
            )
            self._observing[name], self._asked[name] = task, [run.id for run, _ in pairs]
            self._asked_at[name] = self.ctx.clock()
            waiting[task] = name
        if waiting:
            await asyncio.wait(list(waiting), timeout=OBSERVE_WAIT_S)
        for task, name in waiting.items():
            if task.done():
                del self._observing[name]
                self._asked_at.pop(name, None)
                asked = self._asked.pop(name, [])
                ready.append((name, [p for p in watched[name] if p[0].id in asked], task.result()))
            else:
                self._not_answering(name, watched[name])
        return ready

    def in_flight(self) -> list[asyncio.Task[dict[str, Observation] | None]]:
        return list(self._observing.values())

    def _not_answering(self, name: str, pairs: list[tuple[RunRecord, RunHandle]]) -> None:
        since = self._asked_at.get(name, self.ctx.clock())
        detail = (
            f"{name} has not answered since {time.strftime('%H:%M:%S', time.localtime(since))}"
            "; run state unknown (its cap is still checked)"
        )
        for run, _ in pairs:
            self._unreachable(run, detail)

    def _unreachable(self, run: RunRecord, detail: str) -> None:
        """The run's backend does not answer: the detail says since when, the run carries
        `unreachable` (status lines show `?unreachable`); its own detail is kept for later."""
        fields: dict[str, object] = {}
        if detail and detail != run.detail:
            self._before_outage.setdefault(run.id, run.detail)
            fields["detail"] = detail
        if RunWarning.UNREACHABLE not in run.warnings:
            fields["warnings"] = (*run.warnings, RunWarning.UNREACHABLE)
        if fields:
            self.ctx.store.update_run(run.id, **fields)

    def _reachable(self, run: RunRecord) -> RunRecord:
        """The backend answered again: the outage's words go, the run's own detail returns."""
        saved = self._before_outage.pop(run.id, None)
        if saved is None and RunWarning.UNREACHABLE not in run.warnings:
            return run
        now = time.strftime("%H:%M", time.localtime(self.ctx.clock()))
        kept = tuple(w for w in run.warnings if w != RunWarning.UNREACHABLE)
        self.ctx.store.update_run(
            run.id,
            warnings=kept,
            detail=saved if saved is not None else f"reachable again at {now}",
        )
        self.ctx.store.add_event(run.id, "reachable", f"{run.backend} answers again")
        return self.ctx.reader.run(run.id) or run

    async def _observe(
        self, backend_name: str, pairs: list[tuple[RunRecord, RunHandle]]
    ) -> dict[str, Observation] | None:
        backend = self.ctx.backends.get(backend_name)
        try:
            if backend is None:
                raise LookupError(f"backend {backend_name!r} is no longer configured")
            return await backend.observe([handle for _, handle in pairs])
        except Exception as exc:
            for run, _ in pairs:
                self.ctx.store.update_run(run.id, detail=f"{backend_name} unreachable: {exc}")
                self._failed(run.id, f"observing on {backend_name}", exc)
            return None

    def enforce_caps(self, runs: list[RunRecord]) -> None:
        """The cost cap of runs `decide` did not judge this poll (their backend or their
        handling failed): what they cost by the last known rate and the time since start."""
        ctx = self.ctx
        now = ctx.clock()
        for stale in runs:
            try:
                run = ctx.reader.run(stale.id)
                if run is None or not run.active or run.stage is not Stage.NONE:
                    continue  # a launch (nothing billed yet: its first look caps it) or a stop
                if run.state == RunState.QUEUED:
                    continue  # nothing bills; the guards are checked again when it starts
                tracked = self.pumps.get(run.id)
                if tracked is not None and tracked.stopping:
                    continue
                cost = run.cost_so_far
                if run.started_at is not None:
                    cost = max(cost, run.cost_per_hour * (now - run.started_at) / 3600.0)
                facts = health.RunFacts(
                    state=run.state, cost_so_far=cost, cap=run.cap,
                    plan_cost=ctx.reader.plan_cost(run.plan) + cost - run.cost_so_far,
                    plan_cap=self._plan_cap(run),
                )  # fmt: skip
                actions = health.cap_rule(facts)
                if actions:
                    ctx.store.update_run(run.id, cost_so_far=cost)
                    self.execute(run, actions, Observation(RunPhase.UNKNOWN))
            except Exception as exc:
                self._failed(stale.id, "cost cap check", exc)

    def _plan_cap(self, run: RunRecord) -> float | None:
        return plan_cap(self.ctx.reader, self.ctx.config, run.plan)

    # ---- one run ---------------------------------------------------------------------------

    def _update_cost_and_progress(self, run: RunRecord, obs: Observation, now: float) -> None:
        ctx = self.ctx
        tracked = self.pumps.tracked[run.id]
        # Cost so far never goes down (a preempted or stopped pod reports no uptime); a stopped
        # pod's volume adds what it bills between two looks.
        since, tracked.last_seen = tracked.last_seen or now, now
        cost = billed(run, obs, now - since)
        uptime = max(obs.uptime_s, run.uptime_s)
        fields: dict[str, object] = {}
        if obs.waiting != tracked.waiting and obs.phase is not RunPhase.EXITED:
            # What it waits for is its detail while it lasts; when the wait ends, its words go
            # (a run that starts training gets "training started" from health right after).
            fields["detail"] = obs.waiting or (
                "setup running" if obs.phase is RunPhase.SETUP else "running"
            )
            tracked.waiting = obs.waiting
        pending = bool(obs.waiting) and obs.phase is not RunPhase.EXITED
        if pending != (RunWarning.PENDING in run.warnings):
            kept = tuple(w for w in run.warnings if w != RunWarning.PENDING)
            fields["warnings"] = (*kept, RunWarning.PENDING) if pending else kept
            if not pending:  # it started: its time (and the meter's ticking) counts from now
                fields["started_at"] = now - obs.uptime_s
        ctx.store.update_run(
            run.id, cost_per_hour=obs.cost_per_hour, cost_so_far=cost, uptime_s=uptime, **fields
        )
        if obs.still_billing and RunWarning.STILL_BILLING not in run.warnings:
            ctx.store.update_run(run.id, warnings=(*run.warnings, RunWarning.STILL_BILLING))
        if now - tracked.last_cost_sample >= COST_SAMPLE_EVERY_S:
            ctx.store.add_cost_sample(run.id, now, obs.cost_per_hour, cost)
            tracked.last_cost_sample = now
            provider = [
                (now, None, key, value)
                for key, value in (("pod_gpu_util", obs.gpu_util), ("pod_gpu_mem", obs.gpu_mem))
                if value is not None
            ]
            if provider:  # the provider's own GPU numbers (RunPod's runtime.gpus)
                ctx.store.add_metrics(run.id, provider)
        progress = tracked.progress
        if obs.phase is RunPhase.TRAINING and (
            progress.last_check is None
            or now - progress.last_check >= ctx.config.health.poll_seconds
        ):
            latest = ctx.reader.metrics.samples(run.id, ctx.config.metrics.progress_key, 1)
            progress.values = [*progress.values[-20:], latest[-1][1] if latest else None]
            progress.last_check = now

    async def apply(self, run: RunRecord, obs: Observation) -> None:
        ctx = self.ctx
        tracked = self.pumps.tracked[run.id]
        tracked.phase = obs.phase
        now = ctx.clock()
        checks_before = len(tracked.progress.values)
        self._update_cost_and_progress(run, obs, now)
        if ctx.artifact_store is not None and len(tracked.progress.values) != checks_before:
            await self._progress_from_store(run, now)
        fresh = ctx.reader.run(run.id)
        if fresh is None:
            return
        plan = ctx.plans.get(fresh.plan)
        policy = policy_for(ctx.config, fresh)
        for _ in range(3):  # CheckArtifacts asks to decide again with more facts
            shared = self._plan_facts.get(fresh.plan)
            if shared is None:
                shared = self._plan_facts[fresh.plan] = plan_facts(
                    ctx.reader, ctx.config, fresh.plan
                )
            facts = build_facts(ctx.reader, ctx.config, fresh, plan, tracked.progress,
                tracked.drained, tracked.artifacts, tracked.stopping,
                shared, with_anomalies=obs.phase is RunPhase.EXITED,
            )  # fmt: skip
            if facts.cap != fresh.cap:
                ctx.store.update_run(run.id, cap=facts.cap)
            actions = health.decide(facts, obs, policy, now)
            if any(isinstance(action, health.CheckArtifacts) for action in actions):
                tracked.artifacts = await check_artifacts(
                    ctx.backends[fresh.backend],
                    tracked.handle,
                    policy.success_markers,
                    ctx.paths.artifacts(run.id),
                    ctx.artifact_store,
                )
                continue
            self.execute(fresh, actions, obs)
            return

    def execute(self, run: RunRecord, actions: list[health.Action], obs: Observation) -> None:
        store = self.ctx.store
        terminal: health.SetState | None = None
        stop: health.StopAndTerminate | None = None
        relaunch: health.Relaunch | None = None
        guard = health.NoRelaunch("")
        for action in actions:
            match action:
                case health.SetState(state=state) if state in TERMINAL_STATES:
                    terminal = action
                case health.SetState(state=state, detail=detail):
                    store.update_run(run.id, state=state, detail=detail)
                case health.StopAndTerminate():
                    stop = action
                case health.SetWarnings(warnings=warnings):
                    store.update_run(run.id, warnings=warnings)
                case health.Relaunch():
                    relaunch = action
                case health.NoRelaunch():
                    guard = action
        for action in actions:
            if isinstance(action, health.Notify):
                self.ctx.notify(run, action.kind, action.message)
        if stop is not None:
            intent = StopIntent(
                stop.state, stop.detail, stop.failure, guard.guard, guard.kind, relaunch
            )
            self.endings.begin_stop(run, intent)
        elif terminal is not None:
            self.endings.finish(
                run.id, terminal.state, terminal.detail, terminal.failure, obs.exit_code,
                guard.guard, guard.kind, relaunch,
            )  # fmt: skip

    async def _progress_from_store(self, run: RunRecord, now: float) -> None:
        """A `progress.json` the run keeps in the artifact store ({"step": ..., "total_steps":
        ..., any metric}) adds samples at each health check, for runs whose logs say little."""
        ctx = self.ctx
        assert ctx.artifact_store is not None
        try:
            progress = await ctx.artifact_store.read_json(run.id, "progress.json")
        except Exception as exc:
            ctx.store.add_event(run.id, "alert", f"progress.json unreadable: {exc}")
            return
        if not progress:
            return
        step = progress.get(ctx.config.metrics.progress_key)
        step_value = float(step) if isinstance(step, int | float) else None
        samples = [
            (now, step_value, str(key), float(value))
            for key, value in progress.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if samples:
            ctx.store.add_metrics(run.id, samples)

    # ---- failures of the supervisor's own handling -----------------------------------------

    def _failed(self, run_id: str, what: str, exc: Exception) -> None:
        """Record a failure to handle one run: said once, said again plainly when it repeats,
        then only counted; the run shows `control-failed` until its handling works again."""
        signature = f"{what}: {describe(exc)}"
        failing = self._failing.get(run_id)
        if failing is not None and failing.signature == signature:
            failing.count += 1
        else:
            failing = self._failing[run_id] = _Failing(signature)
        store = self.ctx.store
        try:
            if failing.count == 1:
                log.warning("%s: %s failed", run_id, what, exc_info=exc)
                store.add_event(run_id, "alert", f"{run_id}: {signature}")
            elif failing.count == REPEAT_NOTE_AT:
                store.add_event(
                    run_id, "alert",
                    f"{run_id}: {what} has failed {failing.count} polls in a row the same way "
                    f"({describe(exc)}); further repeats are not logged",
                )  # fmt: skip
            run = self.ctx.reader.run(run_id)
            if run is not None and RunWarning.CONTROL_FAILED not in run.warnings:
                store.update_run(run_id, warnings=(*run.warnings, RunWarning.CONTROL_FAILED))
        except Exception:  # the store itself failing: the log has it
            log.exception("recording the failure of %s failed", run_id)

    def _recovered(self, run_id: str) -> None:
        failing = self._failing.pop(run_id, None)
        if failing is None:
            return
        store = self.ctx.store
        store.add_event(
            run_id, "recovered", f"{run_id}: handled again after {failing.count} failed poll(s)"
        )
        run = self.ctx.reader.run(run_id)
        if run is not None and RunWarning.CONTROL_FAILED in run.warnings:
            warnings = tuple(w for w in run.warnings if w != RunWarning.CONTROL_FAILED)
            store.update_run(run_id, warnings=warnings)
