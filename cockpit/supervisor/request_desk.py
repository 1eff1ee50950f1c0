"""The request desk: executes each request row exactly once, dispatching on its typed kind.

A request is claimed (status `running`) before anything is done for it. A supervisor that dies
while executing one leaves it `running`; the next one puts it back to pending unless its run
exists (`Store.recover_interrupted_requests`), and executing it again is safe: a launch or
relaunch looks for the run its request made first, and a stop for a stop under way.
"""

from __future__ import annotations

from dataclasses import replace

from cockpit.core.protocol import (
    Guard,
    LaunchRequest,
    LoopStartRequest,
    LoopStopRequest,
    ProtocolError,
    RaiseCapRequest,
    RelaunchRequest,
    RequestStatus,
    RunState,
    Stage,
    StopRequest,
    from_payload,
)
from cockpit.core.records import Request, RunRecord
from cockpit.supervisor import health_facts as facts
from cockpit.supervisor.context import Context, RequestRefused, describe, log
from cockpit.supervisor.endings import ON_REQUEST, Endings
from cockpit.supervisor.launches import Launches
from cockpit.supervisor.loops import Loops


class RequestDesk:
    def __init__(self, ctx: Context, launches: Launches, endings: Endings, loops: Loops) -> None:
        self.ctx = ctx
        self.launches = launches
        self.endings = endings
        self.loops = loops

    def waiting(self, request: Request) -> bool:
        """An automatic relaunch whose previous attempt is not verified gone yet (its wrap-up
        has not terminated it): it stays pending, so two attempts never run at once."""
        if request.kind != RelaunchRequest.KIND or not request.payload.get("auto"):
            return False
        old = self.ctx.reader.find_run(str(request.payload.get("run_id", "")))
        return old is not None and old.stage not in (Stage.WRITE_BACK, Stage.DONE)

    async def execute(self, request: Request) -> None:
        store = self.ctx.store
        if not store.claim_request(request.id):
            return
        try:
            command = from_payload(request.kind, request.payload)
            made = store.run_for_request(request.id)
            if made is not None:  # a supervisor that died had made it already
                store.finish_request(request.id, RequestStatus.DONE, f"launched {made.id}", made.id)
                return
            match command:
                case LaunchRequest():
                    run = await self.launches.launch(command, request.id)
                    store.finish_request(
                        request.id, RequestStatus.DONE, f"launched {run.id}", run.id
                    )
                case RelaunchRequest():
                    run = await self.relaunch(command, request.id)
                    store.finish_request(
                        request.id, RequestStatus.DONE, f"launched {run.id}", run.id
                    )
                case StopRequest(run_id=run_id):
                    self.stop(run_id, request.id)
                case RaiseCapRequest():
                    message = self.raise_cap(command, request.client)
                    store.finish_request(request.id, RequestStatus.DONE, message)
                case LoopStartRequest():
                    store.finish_request(request.id, RequestStatus.DONE, self.loops.start(command))
                case LoopStopRequest():
                    store.finish_request(request.id, RequestStatus.DONE, self.loops.stop(command))
        except (RequestRefused, ProtocolError) as refusal:
            store.finish_request(request.id, RequestStatus.REFUSED, str(refusal))
            store.add_event(None, "refused", f"{request.kind}: {refusal}")
        except Exception as exc:  # never let one request take the supervisor down
            log.exception("request %s failed", request.id)
            store.finish_request(request.id, RequestStatus.FAILED, describe(exc))

    async def relaunch(self, command: RelaunchRequest, request_id: str) -> RunRecord:
        old = self.ctx.reader.find_run(command.run_id)
        if old is None:
            raise RequestRefused(f"no run {command.run_id}")
        if command.auto:
            await self.ctx.checkpoint("recover.claimed")
            try:
                run = await self.launches.relaunch_same_spec(old, request_id)
            except RequestRefused as held:  # the ended run says why no relaunch followed
                self.ctx.store.update_run(
                    old.id, guard=f"relaunch held: {held}", guard_kind=Guard.RELAUNCH_HELD
                )
                raise
        else:
            launch = LaunchRequest(
                old.hypothesis, plan=old.plan, backend=old.pool or old.backend,
                allow_dirty=command.allow_dirty,
            )  # fmt: skip
            run = await self.launches.launch(launch, request_id, parent=old)
        self.ctx.store.add_event(run.id, "relaunch", f"relaunch of {old.id}")
        return run

    def stop(self, run_id: str, request_id: str | None = None) -> None:
        run = self.ctx.reader.find_run(run_id)
        if run is None:
            raise RequestRefused(f"no run {run_id}")
        if not run.active:
            raise RequestRefused(f"run {run.id} is already {run.state}")
        if run.stage is Stage.STOPPING or run.stop_intent is not None:
            intent = run.stop_intent or {}
            if request_id is not None and intent.get("request_id") == request_id:
                self.endings.resume(run)  # this very request, interrupted: carry on
                return
            if request_id is not None:  # a second stop joins the first and gets its outcome
                self.ctx.store.attach_request(request_id, run.id)
                self.ctx.store.add_event(
                    run.id, "stop", "stop requested again: joins the one under way"
                )
                return
            raise RequestRefused(f"run {run.id} is already being stopped")
        if run.state == RunState.QUEUED:  # nothing was launched: it only leaves the queue
            self.launches.queue.leave(run, "removed from the queue on request", request=request_id)
            return
        if run.stage in (Stage.PREFLIGHT, Stage.LAUNCHING):
            self.launches.stop_during_launch(run, request_id)
            return
        self.endings.begin_stop(run, replace(ON_REQUEST, request_id=request_id))

    def raise_cap(self, command: RaiseCapRequest, client: str) -> str:
        ctx = self.ctx
        plan_rel = command.plan
        if command.hypothesis is None:
            current = facts.plan_cap(ctx.reader, ctx.config, plan_rel)
            what = f"plan {plan_rel}"
        else:
            plan = ctx.plans.get(plan_rel)
            hyp = plan.hypothesis(command.hypothesis) if plan else None
            current = facts.run_cap(ctx.reader, ctx.config, plan_rel, hyp)
            what = f"{command.hypothesis} ({plan_rel})"
        if current is not None and command.cap <= current:
            raise RequestRefused(
                f"${command.cap:.2f} does not raise the cap of {what} (${current:.2f})"
            )
        ctx.store.raise_cap(plan_rel, command.hypothesis, command.cap, client)
        before = f"${current:.2f}" if current is not None else "none"
        message = f"cost cap of {what} raised from {before} to ${command.cap:.2f} by {client}"
        ctx.store.add_event(None, "cap-raised", message)
        return message
