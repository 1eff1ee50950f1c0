"""Watching runs: observe every backend once per poll, let `health.decide` judge each run,
and carry out its actions — state changes, warnings, stop + terminate, relaunch or the guard
that prevents one, result write-back, notifications."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from backends.base import LogSource, Observation, RunHandle, RunPhase
from cockpit import health
from cockpit.artifacts import check_artifacts
from cockpit.facts import build_facts, policy_for
from cockpit.records import TERMINAL_STATES, RunRecord
from cockpit.results import read_metrics_json, summarise_metrics, write_result
from cockpit.supervisor_base import SupervisorBase, log

COST_SAMPLE_EVERY_S = 10.0


class LifecycleMixin(SupervisorBase):
    async def observe_and_decide(self) -> None:
        by_backend: dict[str, list[tuple[RunRecord, RunHandle]]] = defaultdict(list)
        active = self.store.active_runs()
        active_ids = {run.id for run in active}
        for run_id in list(self.tracked):  # a run that left the store (or ended elsewhere)
            tracked = self.tracked[run_id]
            if run_id not in active_ids and not tracked.stopping:
                for task in tracked.pumps.values():
                    task.cancel()
                del self.tracked[run_id]
        for run in active:
            if run.handle is None:
                if run.id not in self.launching:
                    await self.resume_launch(run)
                continue
            handle = RunHandle.from_json(run.handle)
            if self.track(run.id, handle).stopping:
                continue
            by_backend[handle.backend].append((run, handle))
        for backend_name, pairs in by_backend.items():
            backend = self.backends.get(backend_name)
            if backend is None:
                continue
            try:
                observations = await backend.observe([handle for _, handle in pairs])
            except Exception as exc:
                for run, _ in pairs:
                    self.store.update_run(run.id, detail=f"{backend_name} unreachable: {exc}")
                continue
            for run, _ in pairs:
                obs = observations.get(run.id)
                if obs is None:
                    continue
                if obs.phase is RunPhase.UNKNOWN:
                    # Unreachable is never a failure: say so, keep the last known state.
                    if obs.detail and obs.detail != run.detail:
                        self.store.update_run(run.id, detail=obs.detail)
                    continue
                await self.apply(run, obs)

    async def resume_launch(self, run: RunRecord) -> None:
        raise NotImplementedError

    def _update_cost_and_progress(self, run: RunRecord, obs: Observation, now: float) -> None:
        tracked = self.tracked[run.id]
        cost = obs.cost_per_hour * obs.uptime_s / 3600.0
        self.store.update_run(
            run.id, cost_per_hour=obs.cost_per_hour, cost_so_far=cost, uptime_s=obs.uptime_s
        )
        if now - tracked.last_cost_sample >= COST_SAMPLE_EVERY_S:
            self.store.add_cost_sample(run.id, now, obs.cost_per_hour, cost)
            tracked.last_cost_sample = now
            provider = [
                (now, None, key, value)
                for key, value in (("pod_gpu_util", obs.gpu_util), ("pod_gpu_mem", obs.gpu_mem))
                if value is not None
            ]
            if provider:  # the provider's own GPU numbers (RunPod's runtime.gpus)
                self.store.add_metrics(run.id, provider)
        progress = tracked.progress
        if obs.phase is RunPhase.TRAINING and (
            progress.last_check is None
            or now - progress.last_check >= self.config.health.poll_seconds
        ):
            latest = self.store.metric_samples(run.id, self.config.metrics.progress_key, 1)
            progress.values = [*progress.values[-20:], latest[-1][1] if latest else None]
            progress.last_check = now

    async def apply(self, run: RunRecord, obs: Observation) -> None:
        tracked = self.tracked[run.id]
        now = self.clock()
        checks_before = len(tracked.progress.values)
        self._update_cost_and_progress(run, obs, now)
        if self.artifact_store is not None and len(tracked.progress.values) != checks_before:
            await self._progress_from_store(run, now)
        fresh = self.store.run(run.id)
        if fresh is None:
            return
        plan = self.plan(fresh.plan)
        policy = policy_for(self.config, fresh)
        for _ in range(3):  # CheckArtifacts asks to decide again with more facts
            facts = build_facts(
                self.store, self.config, fresh, plan, tracked.progress,
                self.drained(tracked), tracked.artifacts, tracked.stopping,
            )  # fmt: skip
            self.store.update_run(run.id, cap=facts.cap)
            actions = health.decide(facts, obs, policy, now)
            if any(isinstance(action, health.CheckArtifacts) for action in actions):
                tracked.artifacts = await check_artifacts(
                    self.backends[fresh.backend],
                    tracked.handle,
                    policy.success_markers,
                    self.paths.artifacts(run.id),
                    self.artifact_store,
                )
                continue
            self.execute(fresh, actions, obs)
            return

    def execute(self, run: RunRecord, actions: list[health.Action], obs: Observation) -> None:
        terminal: health.SetState | None = None
        stop: health.StopAndTerminate | None = None
        relaunch: health.Relaunch | None = None
        guard = ""
        for action in actions:
            if isinstance(action, health.SetState):
                if action.state in TERMINAL_STATES:
                    terminal = action
                else:
                    self.store.update_run(run.id, state=action.state, detail=action.detail)
            elif isinstance(action, health.StopAndTerminate):
                stop = action
            elif isinstance(action, health.SetWarnings):
                self.store.update_run(run.id, warnings=action.warnings)
            elif isinstance(action, health.Relaunch):
                relaunch = action
            elif isinstance(action, health.NoRelaunch):
                guard = action.guard
        for action in actions:
            if isinstance(action, health.Notify):
                self.notify(run, action.kind, action.message)
        if stop is not None:
            self.begin_stop_and_terminate(
                run, None, stop.state, stop.detail, stop.failure, guard, relaunch
            )
        elif terminal is not None:
            self.finish(
                run.id, terminal.state, terminal.detail, terminal.failure, obs.exit_code,
                guard, relaunch,
            )  # fmt: skip

    def finish(
        self,
        run_id: str,
        state: str,
        detail: str,
        failure: health.Failure | None,
        exit_code: int | None,
        guard: str = "",
        relaunch: health.Relaunch | None = None,
        **extra: object,
    ) -> None:
        """Put a run in its terminal state; the relaunch or its guard in the same commit."""
        now = self.clock()
        fields: dict[str, object] = {
            "state": state, "detail": detail, "ended_at": now, "exit_code": exit_code,
            "guard": guard, **extra,
        }  # fmt: skip
        if failure is not None:
            fields.update(
                failure_class=failure.kind,
                failure_line=failure.line,
                failure_source=failure.source,
                failure_line_no=failure.line_no,
            )
        with self.store.transaction():
            self.store.update_run(run_id, **fields)
            if relaunch is not None:
                self.store.submit_request(
                    "relaunch", {"run_id": run_id, "auto": True}, "supervisor",
                    not_before=now + relaunch.delay_s,
                )  # fmt: skip
                self.store.add_event(
                    run_id, "relaunch", f"relaunch in {relaunch.delay_s:.0f} s ({relaunch.reason})"
                )
            elif guard:
                self.store.add_event(run_id, "no-relaunch", f"not relaunched: {guard}")
        self.tracked.pop(run_id, None)
        self.spawn(self.after_terminal(run_id), name=f"after:{run_id}")

    async def after_terminal(self, run_id: str) -> None:
        """Make sure nothing keeps running or billing, then write the result back."""
        run = self.store.run(run_id)
        if run is None:
            return
        backend = self.backends.get(run.backend)
        # A failure terminates; so does success on a backend that bills by itself (a pod),
        # once its artifacts were fetched.
        if run.handle and backend is not None and (run.state != "succeeded" or backend.bills):
            try:
                handle = RunHandle.from_json(run.handle)
                await backend.stop(handle, self.config.supervisor.stop_grace_seconds)
            except Exception as exc:
                self.store.add_event(run.id, "alert", f"terminate failed: {exc}")
        if self.artifact_store is not None and run.handle:
            await self._logs_from_store(run)
        try:
            path = await self._write_back(run)
            if path:
                self.store.add_event(run.id, "result", f"wrote {path} and an iteration-log row")
            else:
                self.store.add_event(run.id, "result-skipped", f"no plan file {run.plan}")
        except Exception as exc:
            log.exception("write-back of %s failed", run.id)
            self.store.add_event(run.id, "alert", f"result write-back failed: {exc}")

    async def _progress_from_store(self, run: RunRecord, now: float) -> None:
        """A `progress.json` the run keeps in the artifact store ({"step": ..., "total_steps":
        ..., any metric}) adds samples at each health check, for runs whose logs say little."""
        assert self.artifact_store is not None
        try:
            progress = await self.artifact_store.read_json(run.id, "progress.json")
        except Exception as exc:
            self.store.add_event(run.id, "alert", f"progress.json unreadable: {exc}")
            return
        if not progress:
            return
        step = progress.get(self.config.metrics.progress_key)
        step_value = float(step) if isinstance(step, int | float) else None
        samples = [
            (now, step_value, str(key), float(value))
            for key, value in progress.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if samples:
            self.store.add_metrics(run.id, samples)

    async def _logs_from_store(self, run: RunRecord) -> None:
        """Complete the mirror from logs the run uploaded, when its machine went away before
        every byte was streamed (a pod that is gone, a host that never came back)."""
        assert self.artifact_store is not None and run.handle is not None
        from backends.s3 import S3LogSource
        from cockpit.pump import LogPump

        handle = RunHandle.from_json(run.handle)
        mirror = self.paths.mirror_log(run.id, "train")
        try:
            uploaded = await self.artifact_store.read(run.id, "logs/train.log")
        except Exception as exc:
            self.store.add_event(run.id, "alert", f"uploaded train log unreadable: {exc}")
            return
        have = mirror.read_bytes() if mirror.exists() else b""
        if not uploaded or len(uploaded) <= len(have):
            return
        if not uploaded.startswith(have):
            self.store.add_event(run.id, "alert", "uploaded train log differs from the mirror")
            return
        pump = LogPump(
            self.store, S3LogSource(self.artifact_store), handle, LogSource.TRAIN, mirror,
            self.parser, self.config.metrics.progress_key, self.clock,
            self.config.metrics.loss_key,
        )  # fmt: skip
        await pump.run()
        self.store.add_event(
            run.id, "logs", f"{len(uploaded) - len(have)} bytes of train log from the store"
        )

    async def _write_back(self, run: RunRecord) -> str | None:
        """Gather the numbers here (the store belongs to this thread), write files in another."""
        plan_path = self.project / run.plan
        if not plan_path.is_file():
            return None
        stats = {
            key: found
            for key in self.store.metric_keys(run.id)
            if (found := self.store.metric_stats(run.id, key)) is not None
        }
        final_json = read_metrics_json(self.paths.artifacts(run.id))
        summaries, finals = summarise_metrics(stats, final_json)
        written = await asyncio.to_thread(write_result, plan_path, run, summaries, finals)
        return str(written.relative_to(self.project))

    # ---- stop -----------------------------------------------------------------------------

    def begin_stop_and_terminate(
        self,
        run: RunRecord,
        request_id: str | None,
        state: str = "stopped",
        detail: str = "stopped and terminated",
        failure: health.Failure | None = None,
        guard: str = "",
        relaunch: health.Relaunch | None = None,
    ) -> None:
        handle = RunHandle.from_json(run.handle) if run.handle else None
        tracked = self.track(run.id, handle) if handle else None
        if tracked:
            tracked.stopping = True
        self.spawn(
            self._stop_and_terminate(run, request_id, state, detail, failure, guard, relaunch),
            name=f"stop:{run.id}",
        )

    async def _stop_and_terminate(
        self,
        run: RunRecord,
        request_id: str | None,
        state: str,
        detail: str,
        failure: health.Failure | None,
        guard: str,
        relaunch: health.Relaunch | None,
    ) -> None:
        """Stop the run, verify it is gone, finish mirroring its logs, then end it. A stop
        that fails is retried with backoff; meanwhile the run carries the standing warning
        `terminate-failed` (header badge, `runs --json`) so nothing bills unseen."""
        self.store.add_event(run.id, "stop", f"stop + terminate ({state})")
        backend = self.backends[run.backend]
        handle = RunHandle.from_json(run.handle) if run.handle else None
        tracked = self.tracked.get(run.id)
        delay = 2.0
        for attempt in range(1, 9):
            try:
                obs = Observation(RunPhase.EXITED)
                if handle is not None:
                    await backend.stop(handle, self.config.supervisor.stop_grace_seconds)
                    obs = (await backend.observe([handle])).get(run.id, obs)
                break
            except Exception as exc:
                message = f"stop failed (attempt {attempt}): {type(exc).__name__}: {exc}"
                self.store.add_event(run.id, "alert", message)
                current = self.store.run(run.id)
                warnings = current.warnings if current else ()
                if "terminate-failed" not in warnings:
                    self.store.update_run(run.id, warnings=(*warnings, "terminate-failed"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        else:
            if tracked:
                tracked.stopping = False
            if request_id:
                self.store.finish_request(request_id, "failed", "stop failed; see alerts", run.id)
            return
        if tracked and tracked.pumps:
            await asyncio.wait(list(tracked.pumps.values()), timeout=30)
        fresh = self.store.run(run.id)
        cost = obs.cost_per_hour * obs.uptime_s / 3600.0
        if fresh is not None:  # a terminated pod reports nothing: keep what was billed
            cost = max(cost, fresh.cost_so_far)
        uptime = max(obs.uptime_s, fresh.uptime_s if fresh else 0.0)
        warnings = tuple(w for w in (fresh.warnings if fresh else ()) if w != "terminate-failed")
        self.finish(
            run.id, state, detail, failure, obs.exit_code, guard, relaunch,
            cost_so_far=cost, uptime_s=uptime, warnings=warnings,
        )  # fmt: skip
        self.store.add_event(run.id, state, f"{detail}; cost ${cost:.2f}")
        if request_id:
            self.store.finish_request(request_id, "done", f"stopped {run.id}", run.id)
