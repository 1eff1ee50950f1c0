"""Loop mode: a plan's open hypotheses run one after another, with every window closed.

A loop lives in the store (`loops`), so a supervisor restarted mid-loop resumes it. Each poll,
`step` looks at every active loop:

1. The tick in flight. A tick is written as a launch request in the same commit as the loop's
   tick count (`pending_request`): the request desk executes it exactly once, so a supervisor
   that dies anywhere neither repeats nor skips a tick. Its run, and the auto-recover attempts
   that follow it (they carry the tick's number), are done when the last one is written back
   with nothing left to relaunch; its verdict is then counted once.
2. The stop rules, in order, each with its reason: a stop asked for; the plan's state set to
   `paused` or `stopped` by hand (the loop leaves the header alone); the plan's cost cap;
   `--max` ticks done; rejected verdicts in a row (`[loop] pause_after_rejections`); no open
   hypothesis left. A rule that holds while a run is in flight waits for it to be written back.
3. The next tick: the plan hook (`[loop] plan_command`, beside the poll), the plan read again
   from disk (it is the only truth: nothing is cached across ticks), the first open hypothesis
   this loop has not tried, a launch request (guards and pre-flight as for any launch).

At its end a loop appends one line with the reason to the plan's iteration log, sets the state
header (`completed`, `stopped`, `paused`; not when the researcher set it) and writes a report
next to the plan (`loop_report.write_report`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cockpit.core.launch_spec import find_plan
from cockpit.core.loop_rules import describe_loop, hypothesis_key, next_hypothesis
from cockpit.core.plan import Plan, PlanError, load_plan
from cockpit.core.protocol import (
    OPEN_REQUESTS,
    LaunchRequest,
    LoopRunMode,
    LoopStartRequest,
    LoopStopRequest,
    RequestStatus,
    Stage,
    StopRequest,
)
from cockpit.core.records import LoopRecord, RunRecord
from cockpit.supervisor import health_facts as facts
from cockpit.supervisor.context import Context, RequestRefused, describe, log
from cockpit.supervisor.loop_hooks import Hooks
from cockpit.supervisor.loop_report import end_loop_in_plan, write_report

REJECTED = "rejected"


@dataclass(frozen=True)
class Tick:
    """One tick's runs: the first attempt and the relaunches that followed it."""

    iteration: int
    latest: RunRecord

    def done(self, ctx: Context) -> bool:
        """Written back, verified ended, and no relaunch waiting for it."""
        run = self.latest
        return not run.active and run.stage is Stage.DONE and not ctx.reader.open_relaunch(run.id)


class Loops:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.hooks = Hooks(ctx)

    # ---- requests ----------------------------------------------------------------------------

    def start(self, command: LoopStartRequest) -> str:
        ctx = self.ctx
        plan_rel, plan = self._plan(command.plan)
        running = next(
            (lp for lp in ctx.reader.loops(active_only=True) if lp.plan == plan_rel), None
        )
        if running is not None:
            raise RequestRefused(
                f"a loop already runs on {plan_rel} ({running.id}, tick {running.ticks}"
                f"/{running.max_ticks or '∞'}): one loop per plan"
            )
        if plan.state in ("paused", "stopped", "completed"):
            raise RequestRefused(
                f"{plan_rel}'s state is {plan.state}: set it to in_progress to loop over it"
            )
        if command.max_ticks is not None and command.max_ticks < 1:
            raise RequestRefused("--max must be at least 1")
        loop_id = f"loop-{time.strftime('%Y%m%d-%H%M%S', time.localtime(ctx.clock()))}-"
        loop_id += secrets.token_hex(2)
        with ctx.store.transaction():
            ctx.store.create_loop(
                loop_id, plan_rel, command.max_ticks, command.every_s, ctx.clock()
            )
            ctx.store.add_event(None, "loop", f"{loop_id} started on {plan_rel}")
        said = f"started {loop_id} on {plan_rel}: " + describe_loop(
            command.max_ticks, command.every_s, facts.plan_cap(ctx.reader, ctx.config, plan_rel)
        )
        expected = self._expected_s(plan_rel)
        if command.every_s is not None and expected is not None and command.every_s < expected:
            said += (
                f"; warning: a tick every {command.every_s / 60:.0f} min is shorter than the "
                f"plan's expected run time ({expected / 60:.0f} min): ticks will wait for "
                f"max_parallel = {ctx.config.max_parallel} (concurrent launches multiply GPU "
                "spend)"
            )
        return said

    def stop(self, command: LoopStopRequest) -> str:
        ctx = self.ctx
        active = ctx.reader.loops(active_only=True)
        if command.plan is not None:
            plan_rel, _ = self._plan(command.plan)
            active = [loop for loop in active if loop.plan == plan_rel]
        if not active:
            raise RequestRefused("no loop runs" + (f" on {command.plan}" if command.plan else ""))
        if len(active) > 1:
            names = ", ".join(f"{loop.id} ({loop.plan})" for loop in active)
            raise RequestRefused(f"several loops run: name the plan ({names})")
        loop = active[0]
        mode = LoopRunMode(command.run)
        in_flight = [tick.latest for tick in self._ticks(loop) if not tick.done(ctx)]
        with ctx.store.transaction():
            ctx.store.update_loop(
                loop.id, state="stopping", stop_mode=mode, stop_reason="stopped on request"
            )
            if mode is LoopRunMode.STOP:
                for run in in_flight:
                    if run.active:
                        ctx.reader.submit_request(StopRequest(run.id), f"loop {loop.id}")
        if not in_flight:
            return f"{loop.id} stops now (no run in flight)"
        names = ", ".join(run.id for run in in_flight)
        if mode is LoopRunMode.STOP:
            return f"{loop.id} stops: stopping and terminating {names}"
        return f"{loop.id} stops after {names} is written back"

    def _plan(self, name: str | None) -> tuple[str, Plan]:
        ctx = self.ctx
        try:
            plan_rel = find_plan(ctx.project, ctx.config.plans, name)
            return plan_rel, load_plan(ctx.project / plan_rel)
        except (PlanError, OSError) as exc:
            raise RequestRefused(str(exc)) from exc

    def _expected_s(self, plan_rel: str) -> float | None:
        config = self.ctx.config
        if config.health.expected_minutes is not None:
            return config.health.expected_minutes * 60.0
        return self.ctx.reader.last_success_seconds(plan_rel)

    # ---- the poll ----------------------------------------------------------------------------

    async def step(self) -> None:
        for loop in self.ctx.reader.loops(active_only=True):
            try:
                await self._step(loop)
            except Exception as exc:  # one loop's trouble never stops the poll
                log.exception("loop %s", loop.id)
                self.ctx.store.add_event(None, "alert", f"{loop.id}: {describe(exc)}")

    async def _step(self, loop: LoopRecord) -> None:
        ctx = self.ctx
        if self._planning(loop):
            return
        if loop.pending_request is not None:
            request = ctx.reader.request(loop.pending_request)
            if request is not None and request.status in OPEN_REQUESTS:
                return
            if request is not None and request.status != RequestStatus.DONE:
                ctx.store.add_event(
                    None, "loop", f"{loop.id} tick {loop.ticks}: not launched: {request.result}"
                )
            ctx.store.update_loop(loop.id, pending_request=None)
        ticks = self._ticks(loop)
        if self._count(loop, ticks):
            await ctx.checkpoint("loop.counted")
        loop = ctx.reader.loop(loop.id) or loop
        in_flight = [tick for tick in ticks if not tick.done(ctx)]
        if loop.state == "stopping":
            if not in_flight:
                await self._end(loop, "stopped", loop.stop_reason or "stopped on request")
            return
        try:
            plan = load_plan(ctx.project / loop.plan)
        except (PlanError, OSError) as exc:
            self._say(loop, f"waits: {loop.plan} cannot be read: {exc}")
            return
        rule = self._stop_rule(loop, plan)
        if rule is not None:
            if not in_flight:
                await self._end(loop, *rule)
            return
        if in_flight and loop.every_s is None:
            return
        if loop.every_s is not None:
            now = ctx.clock()
            if loop.last_tick_at is not None and now - loop.last_tick_at < loop.every_s:
                return
            active = [run for run in ctx.reader.active_runs() if run.plan == loop.plan]
            if len(active) >= ctx.config.max_parallel:
                return
        ctx.tasks.spawn(self._tick(loop), name=f"loop-tick:{loop.id}")

    def _planning(self, loop: LoopRecord) -> bool:
        return self.ctx.tasks.running(f"loop-tick:{loop.id}")

    def _ticks(self, loop: LoopRecord) -> list[Tick]:
        """The loop's ticks, each with its latest attempt."""
        latest: dict[int, RunRecord] = {}
        for run in self.ctx.reader.runs_of_loop(loop.id):
            key = run.loop_iter or 0
            if key not in latest or run.attempt >= latest[key].attempt:
                latest[key] = run
        return [Tick(iteration, run) for iteration, run in sorted(latest.items())]

    def _count(self, loop: LoopRecord, ticks: list[Tick]) -> bool:
        """Count each written-back tick's verdict once; run the analysis hook after it. True
        when one was counted."""
        counted, streak = list(loop.counted), loop.rejected_streak
        fresh = [t for t in ticks if t.latest.id not in counted and t.done(self.ctx)]
        for tick in fresh:
            counted.append(tick.latest.id)
            streak = streak + 1 if tick.latest.verdict == REJECTED else 0
        if fresh:
            self.ctx.store.update_loop(loop.id, counted=counted, rejected_streak=streak)
            hook = self.ctx.config.loop.analysis_command
            if hook:
                for tick in fresh:
                    self.ctx.tasks.spawn(
                        self.hooks.analysis(loop, hook, tick.iteration, tick.latest),
                        name=f"loop-analysis:{tick.latest.id}",
                    )
        return bool(fresh)

    def _stop_rule(self, loop: LoopRecord, plan: Plan) -> tuple[str | None, str] | None:
        """(the plan state to write, the reason) of the first stop rule that holds."""
        ctx = self.ctx
        if plan.state in ("paused", "stopped"):
            return None, f"the plan's state was set to {plan.state}"
        cap = facts.plan_cap(ctx.reader, ctx.config, loop.plan)
        spent = ctx.reader.plan_cost(loop.plan)
        if cap is not None and spent >= cap:
            return "stopped", f"the plan cap ${cap:.2f} was reached (${spent:.2f} spent)"
        if loop.max_ticks is not None and loop.ticks >= loop.max_ticks:
            return "stopped", f"--max {loop.max_ticks}: {loop.ticks} ticks done"
        limit = ctx.config.loop.pause_after_rejections
        if loop.rejected_streak >= limit:
            return "paused", (
                f"{loop.rejected_streak} rejected verdicts in a row: rethink the hypotheses, "
                "then set the plan to in_progress and start a loop again"
            )
        if next_hypothesis(plan, loop.tried) is None:
            return "completed", "no open hypothesis left"
        return None

    async def _tick(self, loop: LoopRecord) -> None:
        """The plan hook, then the plan read again, then the launch request (one commit with
        the tick count)."""
        ctx = self.ctx
        iteration = loop.ticks + 1
        plan = load_plan(ctx.project / loop.plan)
        hypothesis = next_hypothesis(plan, loop.tried)
        hook = ctx.config.loop.plan_command
        if hook and hypothesis is not None:
            failed = await self.hooks.run(loop, hook, iteration, "plan", None, hypothesis)
            if failed is not None:
                with ctx.store.transaction():
                    ctx.store.update_loop(
                        loop.id, ticks=iteration, last_tick_at=ctx.clock(),
                        tried=(*loop.tried, hypothesis_key(hypothesis)),
                    )  # fmt: skip
                    ctx.store.add_event(
                        None, "loop", f"{loop.id} tick {iteration} skipped ({hypothesis.id}): "
                        f"the plan hook {failed}",
                    )  # fmt: skip
                return
            try:
                plan = load_plan(ctx.project / loop.plan)  # the hook may have changed it
            except (PlanError, OSError):
                return  # the next step says why and waits
            if self._stop_rule(loop, plan) is not None:
                return  # the hook paused the plan, say: the next step ends the loop
            hypothesis = next_hypothesis(plan, loop.tried)
        if hypothesis is None:
            return
        await ctx.checkpoint("loop.before-tick")
        preamble = self.hooks.plan_output(loop, iteration) if hook else None
        command = LaunchRequest(
            hypothesis.id, plan=loop.plan, loop=loop.id, iteration=iteration, preamble=preamble
        )
        with ctx.store.transaction():
            request_id = ctx.reader.submit_request(command, f"loop {loop.id}")
            ctx.store.update_loop(
                loop.id, ticks=iteration, last_tick_at=ctx.clock(), pending_request=request_id,
                tried=(*loop.tried, hypothesis_key(hypothesis)),
            )  # fmt: skip
            ctx.store.add_event(
                None, "loop", f"{loop.id} tick {iteration}: {hypothesis.id} {hypothesis.text}"
            )
        await ctx.checkpoint("loop.tick-requested")

    async def _end(self, loop: LoopRecord, state: str | None, reason: str) -> None:
        """Write the end into the plan (a log line; the header unless the researcher set it),
        the report next to it, and the loop's row. The report's name is recorded first, so a
        supervisor that dies on the way rewrites the same file, never a second one."""
        ctx = self.ctx
        plan_path = ctx.project / loop.plan
        if loop.report is None:
            day = time.strftime("%Y-%m-%d", time.localtime(loop.started_at))
            named = str(report_path(plan_path.parent, day).relative_to(ctx.project))
            ctx.store.update_loop(loop.id, report=named)
            loop = ctx.reader.loop(loop.id) or loop
            await ctx.checkpoint("loop.report-named")
        assert loop.report is not None
        report = ctx.project / loop.report
        runs = [tick.latest for tick in self._ticks(loop)]
        write_report(ctx, loop, runs, state, reason, report)
        end_loop_in_plan(plan_path, loop, state, reason, report.name)
        await ctx.checkpoint("loop.plan-written")
        ctx.store.update_loop(
            loop.id, state="ended", ended_at=ctx.clock(), stop_reason=reason, end_state=state
        )
        ctx.notify(
            None, "loop", f"{loop.id} on {loop.plan} ended: {reason} (report: {report.name})",
            plan=loop.plan,
        )  # fmt: skip

    def _say(self, loop: LoopRecord, message: str) -> None:
        events = self.ctx.reader.events(None)
        said = f"{loop.id} {message}"
        if not events or events[-1].message != said:
            self.ctx.store.add_event(None, "loop", said)


def report_path(folder: Path, day: str) -> Path:
    """`loop_<date>_report.md`, numbered when a loop of the same day wrote one already."""
    path = folder / f"loop_{day}_report.md"
    number = 2
    while path.exists():
        path = folder / f"loop_{day}_report_{number}.md"
        number += 1
    return path
