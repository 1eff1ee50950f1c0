"""Launching runs: the guards that refuse a launch, pre-flight, and the backend launch.

A launch request is answered as soon as the run row exists (stage `preflight`); pre-flight and
the backend launch then go on beside the poll loop, so a long smoke test never delays the
health rules of other runs. The stage moves to `launching` before the backend is asked, and
back to none once the handle is stored. A supervisor that died in pre-flight leaves a run that
the next one ends as `failed` (class `interrupted`: nothing was launched; launch it again);
one that died in the backend launch leaves a run the next one launches again, which adopts
what the first attempt made (launches are idempotent on the run id).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backends.base import Backend, RunSpec
from cockpit.core.git_tree import head_commit
from cockpit.core.launch_spec import build_run, find_hypothesis, new_run_id
from cockpit.core.placement import Waiting
from cockpit.core.plan import Hypothesis, Plan
from cockpit.core.protocol import FailureClass, Guard, LaunchRequest, RequestStatus, RunState, Stage
from cockpit.core.records import RunRecord
from cockpit.core.run_hypothesis import is_run_of, launched_hypothesis
from cockpit.supervisor import health_facts as facts
from cockpit.supervisor import preflight
from cockpit.supervisor.context import Context, RequestRefused, describe, log
from cockpit.supervisor.endings import ON_REQUEST, Endings, StopIntent
from cockpit.supervisor.log_pumps import Pumps
from cockpit.supervisor.queue import RUN_DIR_LATER, Queue, demand_of
from cockpit.supervisor.terminate import LEFTOVER_NOTE


class Launches:
    def __init__(self, ctx: Context, pumps: Pumps, endings: Endings, queue: Queue) -> None:
        self.ctx = ctx
        self.pumps = pumps
        self.endings = endings
        self.queue = queue

    def launching(self, run_id: str) -> bool:
        return self.ctx.tasks.running(f"launch:{run_id}")

    # ---- new runs --------------------------------------------------------------------------

    async def launch(
        self, command: LaunchRequest, request_id: str | None, parent: RunRecord | None = None
    ) -> RunRecord:
        """Check the guards, create the run, and start pre-flight + launch in the background.
        The command, setup and backends are those of the config in force now."""
        ctx = self.ctx
        config = ctx.config
        plan_obj, plan_rel, hyp = find_hypothesis(
            ctx.project, config.plans, command.hypothesis, command.plan
        )
        backend_name = command.backend or config.default_backend
        group = Queue.group(ctx, backend_name)
        if backend_name not in ctx.backends and not group:
            raise RequestRefused(
                f"no backend {backend_name!r} (configured: {', '.join(sorted(config.backends))})"
            )
        self.check_guards(plan_obj, plan_rel, hyp)
        # A pool launches on one of its members: the first stands for it until placement.
        backend = ctx.backends[group[0] if group else backend_name]
        commit = head_commit(ctx.project)
        run_id = new_run_id(hyp.id, lambda candidate: ctx.reader.run(candidate) is not None)
        # A placed run's directory is its host's: `{run_dir}` is filled in when it is placed.
        run_dir = RUN_DIR_LATER if group else backend.run_dir(run_id)
        spec, record = build_run(
            config, ctx.project, hyp, plan_rel, backend_name, run_dir, commit,
            run_id, request_id, ctx.clock(),
        )  # fmt: skip
        if ctx.artifact_store is not None:
            uri = {"COCKPIT_ARTIFACTS_URI": ctx.artifact_store.uri(run_id)}
            spec = replace(spec, env={**spec.env, **uri})
        record = replace(
            record,
            spec=spec.to_json(),
            parent=parent.id if parent else None,
            detail="pre-flight",
            stage=Stage.PREFLIGHT,
            cap=facts.run_cap(ctx.reader, config, plan_rel, hyp),
            loop_id=command.loop,
            loop_iter=command.iteration,
        )
        if group:
            want_gpus, want_vram = demand_of(config, plan_rel, hyp)
            record = replace(record, want_gpus=want_gpus, want_vram_gb=want_vram)
            never = self.queue.where(record, group, [])
            if isinstance(never, Waiting) and never.never:
                raise RequestRefused(f"{hyp.id} on {backend_name}: {never.reason}")
        self._create(record, f"launch {hyp.id} ({plan_rel}) on {backend_name} at {commit[:12]}")
        if command.preamble:
            self._preamble(record.id, command.preamble)
        ctx.tasks.spawn(
            self._preflight_and_start(record, spec, backend, plan_obj, command.allow_dirty),
            name=f"launch:{run_id}",
        )
        return record

    def check_guards(self, plan: Plan, plan_rel: str, hyp: Hypothesis) -> None:
        """Refuse, with the reason, a launch that must not happen."""
        ctx = self.ctx
        config = ctx.config
        active = [run for run in ctx.reader.active_runs() if run.plan == plan_rel]
        for run in active:
            if is_run_of(hyp, run.hypothesis, run.hypothesis_text):
                how = "queued" if run.state == RunState.QUEUED else "running"
                raise RequestRefused(f"{hyp.id} is already {how} as {run.id}")
        if len(active) >= config.max_parallel:
            names = ", ".join(run.id for run in active)
            raise RequestRefused(
                f"{plan_rel} already has {len(active)} active run(s) ({names}); max_parallel is "
                f"{config.max_parallel} (concurrent runs multiply GPU spend)"
            )
        cap = facts.plan_cap(ctx.reader, config, plan_rel)
        spent = ctx.reader.plan_cost(plan_rel)
        if cap is not None and spent >= cap:
            raise RequestRefused(
                f"{plan_rel} has cost ${spent:.2f}, its plan cap is ${cap:.2f}: raise the cap first"
            )
        last = next(iter(ctx.reader.runs_of(plan_rel, hyp.id)), None)
        if last is not None and last.state == RunState.CAP_EXCEEDED:
            run_cap = facts.run_cap(ctx.reader, config, plan_rel, hyp)
            if run_cap is None or (last.cap is not None and run_cap <= last.cap):
                raise RequestRefused(
                    f"{hyp.id}'s last run {last.id} reached its cost cap "
                    f"(${last.cap or 0:.2f}): raise the cap first"
                )

    def _preamble(self, run_id: str, text: str) -> None:
        """Open the run's onstart mirror with `text`, before any byte of the backend's: the
        bytes count as a prefix (the backend's stream starts after them) and as parsed (they
        are not the run's own lines: no anomaly is looked for in them)."""
        data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
        self.ctx.paths.mirror_log(run_id, "onstart").write_bytes(data)
        with self.ctx.store.transaction():
            self.ctx.store.set_prefix_bytes(run_id, "onstart", len(data))
            self.ctx.store.set_parsed_offset(run_id, "onstart", len(data))

    def _create(self, record: RunRecord, message: str) -> None:
        with self.ctx.store.transaction():
            self.ctx.store.create_run(record)
            self.ctx.store.add_event(record.id, "launch", message)
        self.ctx.paths.mirror(record.id).mkdir(parents=True, exist_ok=True)

    async def relaunch_same_spec(self, old: RunRecord, request_id: str | None) -> RunRecord:
        """Auto-recover: the same spec and commit as the next attempt, no pre-flight (it
        passed for this commit already)."""
        ctx = self.ctx
        plan = ctx.plans.get(old.plan)
        if plan is not None and plan.state in ("paused", "stopped"):
            raise RequestRefused(f"plan state is {plan.state}: {old.id} is not relaunched")
        if old.state == RunState.CAP_EXCEEDED:
            raise RequestRefused(f"{old.id} reached its cost cap: never relaunched automatically")
        located = launched_hypothesis(plan, old.hypothesis, old.hypothesis_text)
        hypothesis = located.hypothesis if located.in_plan else None
        if plan is not None and hypothesis is not None:
            # The guards every launch passes, as they stand now (a manual launch may have come
            # during the backoff; caps and max_parallel may have changed).
            self.check_guards(plan, old.plan, hypothesis)
        backend = ctx.backends.get(old.backend)
        if backend is None:
            raise RequestRefused(f"backend {old.backend!r} is no longer configured")
        run_id = new_run_id(old.hypothesis, lambda candidate: ctx.reader.run(candidate) is not None)
        spec = RunSpec.from_json({**old.spec, "run_id": run_id})
        command = spec.command
        if old.want_gpus is not None and old.handle:  # placed again, maybe on another host
            command = command.replace(str(old.handle["run_dir"]), RUN_DIR_LATER)
        spec = replace(spec, command=command.replace(old.id, run_id))
        record = replace(
            old, id=run_id, hypothesis=hypothesis.id if hypothesis else old.hypothesis,
            spec=spec.to_json(), handle=None, state=RunState.STARTING,
            request_id=request_id, created_at=ctx.clock(), started_at=None, ended_at=None,
            exit_code=None, cost_so_far=0.0, uptime_s=0.0, detail="relaunching",
            failure_class=None, failure_source=None, failure_line_no=None, failure_line=None,
            attempt=old.attempt + 1, parent=old.id, warnings=(), guard="",
            guard_kind=Guard.NONE, stage=Stage.LAUNCHING, stop_intent=None, verdict=None,
        )  # fmt: skip
        if old.want_gpus is not None:  # placed again: it waits for its turn like any launch
            record = replace(
                record, state=RunState.QUEUED, stage=Stage.NONE, host=None, gpus=(),
                backend=old.pool or old.backend, pool=None,
                detail="queued: waiting for a place",
            )  # fmt: skip
        self._create(record, f"attempt {record.attempt}: relaunch of {old.id} at {old.commit[:12]}")
        await ctx.checkpoint("recover.created")
        if record.state == RunState.QUEUED:
            self.queue.advance(self.start_placed)
            return ctx.reader.run(record.id) or record
        ctx.tasks.spawn(self._start(record.id, spec, backend), name=f"launch:{run_id}")
        return record

    # ---- pre-flight and the backend launch -------------------------------------------------

    async def _preflight_and_start(
        self, record: RunRecord, spec: RunSpec, backend: Backend, plan: Plan, allow_dirty: bool
    ) -> None:
        ctx = self.ctx
        await ctx.checkpoint("launch.created")
        mirror = ctx.paths.mirror_log(record.id, "onstart")
        with open(mirror, "a", encoding="utf-8") as out:

            def write(text: str) -> None:
                out.write(text)
                out.flush()

            try:
                await ctx.checkpoint("launch.preflight")
                steps = await preflight.run_preflight(
                    ctx.project, ctx.config.preflight, plan.flags, record.commit,
                    backend.is_remote, allow_dirty,
                    {"hypothesis": record.hypothesis, "run_id": record.id,
                     "commit": record.commit, "run_dir": backend.run_dir(record.id)},
                    {"COCKPIT_RUN_ID": record.id, "COCKPIT_PREFLIGHT": "1",
                     "COCKPIT_RUN_DIR": str(self._preflight_dir(record.id))}, write,
                    ctx.config.plans,
                )  # fmt: skip
            except preflight.PreflightFailed as failed:
                self._preflight_failed(record, failed.step, mirror)
                return
        with ctx.store.transaction():
            ctx.store.set_prefix_bytes(record.id, "onstart", mirror.stat().st_size)
            ctx.store.update_run(record.id, stage=Stage.LAUNCHING, detail=preflight.summary(steps))
        await ctx.checkpoint("launch.preflight-passed")
        fresh = ctx.reader.run(record.id)
        if fresh is not None and fresh.stop_intent is not None:  # stopped during pre-flight
            self._stopped_before_launch(fresh)
            return
        if fresh is not None and fresh.want_gpus is not None:  # placed: through the queue
            self.queue.enqueue(record.id)
            await ctx.checkpoint("launch.queued")
            self.queue.advance(self.start_placed)
            return
        await self._start(record.id, spec, backend)

    def start_placed(self, run: RunRecord, spec: RunSpec, host: str) -> None:
        """The queue placed `run` on `host` (recorded, stage launching): launch it there."""
        self.ctx.tasks.spawn(
            self._start(run.id, spec, self.ctx.backends[host]), name=f"launch:{run.id}"
        )

    def _preflight_dir(self, run_id: str) -> Path:
        """Where smoke and test commands may write (never the project itself)."""
        folder = self.ctx.paths.mirror(run_id) / "preflight"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _preflight_failed(self, record: RunRecord, step: preflight.Step, mirror: Path) -> None:
        from cockpit.core import health

        line_no = mirror.read_bytes().count(b"\n")
        detail = f"pre-flight {step.name} failed: {step.detail}"
        failure = health.Failure(FailureClass.PREFLIGHT, detail, "onstart", line_no)
        self.endings.finish(
            record.id, RunState.FAILED, detail, failure, None,
            "pre-flight failed", Guard.PREFLIGHT_FAILED,
        )  # fmt: skip

    def _stopped_before_launch(self, run: RunRecord) -> None:
        intent = StopIntent.from_json(run.stop_intent or {})
        self.endings.finish(
            run.id, intent.state, "stopped before launch", intent.failure, None,
            intent.guard, intent.guard_kind,
        )  # fmt: skip
        if intent.request_id:
            self.ctx.store.finish_request(
                intent.request_id, RequestStatus.DONE, f"stopped {run.id}", run.id
            )

    async def _start(self, run_id: str, spec: RunSpec, backend: Backend) -> None:
        """Ask the backend to launch (idempotent on the run id), store the handle, mirror."""
        from cockpit.core import health

        ctx = self.ctx
        try:
            await ctx.checkpoint("launch.before-backend")
            handle = await backend.launch(spec)
            await ctx.checkpoint("launch.backend-returned")
        except Exception as exc:
            log.exception("launch of %s failed", run_id)
            detail = f"launch failed: {describe(exc)}"
            if backend.bills:  # a create may have gone through: wrap-up ends what it finds
                detail += LEFTOVER_NOTE
            fresh = ctx.reader.run(run_id)
            intent = (
                StopIntent.from_json(fresh.stop_intent) if fresh and fresh.stop_intent else None
            )
            self.endings.finish(
                run_id, RunState.FAILED, detail, health.Failure(FailureClass.INFRA, detail), None
            )
            if intent is not None and intent.request_id:
                ctx.store.finish_request(
                    intent.request_id, RequestStatus.DONE, f"{run_id} never started"
                )
            return
        fresh = ctx.reader.run(run_id)
        if fresh is None or not fresh.active:
            # Ended while the backend was launching (the run left the store, or a path that
            # could not wait ended it): whatever the launch made is terminated by wrap-up.
            if fresh is not None:
                ctx.store.update_run(run_id, handle=handle.to_json(), stage=Stage.WRAP_UP)
                self.endings.begin_wrap_up(run_id)
            else:
                await backend.stop(handle, ctx.config.supervisor.stop_grace_seconds)
            return
        started = fresh.started_at or ctx.clock()
        ctx.store.update_run(run_id, handle=handle.to_json(), started_at=started, stage=Stage.NONE)
        await ctx.checkpoint("launch.handle-stored")
        fresh = ctx.reader.run(run_id)
        if fresh is None:
            return
        if fresh.stop_intent is not None:
            # Stopped while it was being launched: end what the launch created, right away.
            self.endings.begin_stop(fresh, StopIntent.from_json(fresh.stop_intent))
            return
        self.pumps.track(run_id, handle)
        ctx.wake.set()

    # ---- stops during a launch, and launches a dead supervisor left ------------------------

    def stop_during_launch(self, run: RunRecord, request_id: str | None) -> None:
        """Record the stop; the launch carries it out as soon as the backend has something to
        stop (a pod is terminated the moment it exists)."""
        intent = replace(ON_REQUEST, request_id=request_id)
        with self.ctx.store.transaction():
            self.ctx.store.update_run(run.id, stop_intent=intent.to_json())
            self.ctx.store.add_event(run.id, "stop", "stop requested during launch")
        if not self.launching(run.id):
            self.resume(self.ctx.reader.run(run.id) or run)

    def resume(self, run: RunRecord) -> None:
        """A launch no task of this supervisor is carrying out: its supervisor died."""
        from cockpit.core import health

        ctx = self.ctx
        if self.launching(run.id):
            return
        if run.stage is Stage.PREFLIGHT:
            ended = preflight.end_leftovers(self._preflight_dir(run.id), run.id)
            if ended:
                ctx.store.add_event(run.id, "preflight", f"ended leftover {', '.join(ended)}")
            if run.stop_intent is not None:
                self._stopped_before_launch(run)
                return
            detail = (
                "pre-flight interrupted: the supervisor stopped during it; nothing was launched"
            )
            self.endings.finish(
                run.id, RunState.FAILED, detail,
                health.Failure(FailureClass.INTERRUPTED, detail), None,
                "pre-flight did not finish: launch it again", Guard.INTERRUPTED,
            )  # fmt: skip
            return
        backend = ctx.backends.get(run.backend)
        if backend is None:
            detail = f"backend {run.backend!r} is no longer configured; the launch cannot resume"
            self.endings.finish(
                run.id, RunState.FAILED, detail, health.Failure(FailureClass.INFRA, detail), None
            )
            return
        ctx.store.add_event(
            run.id,
            "launch",
            "launch under way when a supervisor stopped: "
            "asking the backend again (it adopts what exists)",
        )
        ctx.tasks.spawn(
            self._start(run.id, RunSpec.from_json(run.spec), backend), name=f"launch:{run.id}"
        )
