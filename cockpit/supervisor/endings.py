"""How runs end: stop + terminate (verified), the terminal state with its relaunch or guard,
and the wrap-up after it (terminate what may still bill, complete the mirror from uploaded
logs, write the result back into the plan).

Each step records its stage in the store before its side effect: a stop's intent (what the
run ends as, who asked) before the backend is asked to stop; the terminal state, and the
relaunch request with its backoff, in one transaction; the wrap-up's end only after the
result is written. A supervisor that dies anywhere here leaves a stage that the next one
carries out again (`resume`), and every step is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.base import LogSource, Observation, RunHandle, RunPhase
from cockpit.core import health
from cockpit.core.protocol import (
    Guard,
    RelaunchRequest,
    RequestStatus,
    RunState,
    RunWarning,
    Stage,
    StopRequest,
)
from cockpit.core.records import RunRecord
from cockpit.supervisor.context import Context, describe, log
from cockpit.supervisor.log_pumps import Pumps
from cockpit.supervisor.results import (
    RowPending,
    read_metrics_json,
    summarise_metrics,
    write_result,
)
from cockpit.supervisor.terminate import Terminator

STOP_RETRY_MAX_S = 60.0
RETRY_S = {"stop": 10.0, "wrap-up": 60.0}
"""How long after a failed stop or wrap-up task it is started again."""


@dataclass(frozen=True)
class StopIntent:
    """What a stop under way ends its run as; kept in the run's row until it is done."""

    state: RunState = RunState.STOPPED
    detail: str = "stopped and terminated"
    failure: health.Failure | None = None
    guard: str = ""
    guard_kind: Guard = Guard.NONE
    relaunch: health.Relaunch | None = None
    request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StopIntent:
        failure = data.get("failure")
        relaunch = data.get("relaunch")
        return cls(
            state=RunState(data.get("state", RunState.STOPPED)),
            detail=str(data.get("detail", "stopped and terminated")),
            failure=health.Failure(**failure) if failure else None,
            guard=str(data.get("guard", "")),
            guard_kind=Guard(data.get("guard_kind", "")),
            relaunch=health.Relaunch(**relaunch) if relaunch else None,
            request_id=data.get("request_id"),
        )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


ON_REQUEST = StopIntent(guard="stopped on request", guard_kind=Guard.STOPPED_ON_REQUEST)


class Endings:
    def __init__(self, ctx: Context, pumps: Pumps) -> None:
        self.ctx = ctx
        self.pumps = pumps
        self.terminator = Terminator(ctx)
        self._stop_failing_since: dict[str, float] = {}
        self._tried: dict[str, float] = {}
        """When this supervisor last started a stop or wrap-up of each run (`kind:run_id`)."""
        self._said: dict[str, str] = {}
        self._plan_seen: dict[str, tuple[int, int] | None] = {}
        """The plan file's (mtime, size) at each run's last write-back try."""
        """The last failure said for each stop or wrap-up: a repeat is not said again."""

    # ---- stop + terminate ------------------------------------------------------------------

    def begin_stop(self, run: RunRecord, intent: StopIntent) -> None:
        """Record the stop's intent (stage `stopping`), then carry it out beside the poll."""
        if run.stage is not Stage.STOPPING or run.stop_intent is None:
            self.ctx.store.update_run(
                run.id, stage=Stage.STOPPING, stop_intent=intent.to_json(), detail="stopping"
            )
        # Its logs are mirrored to their end, also when a new supervisor carries the stop on.
        tracked = self.pumps.track(run.id, RunHandle.from_json(run.handle)) if run.handle else None
        if tracked is not None:
            tracked.stopping = True
        self._spawn("stop", run.id)

    def stopping(self, run_id: str) -> bool:
        return self.ctx.tasks.running(f"stop:{run_id}")

    async def _stop_and_terminate(self, run_id: str) -> None:
        """Stop the run, verify it is gone, let its logs finish, then end it. A stop that
        fails is retried with capped backoff for as long as this supervisor lives; meanwhile
        the run carries `terminate-failed` (cost still counting) so nothing bills unseen."""
        ctx = self.ctx
        run = ctx.reader.run(run_id)
        if run is None or run.stop_intent is None:
            return
        intent = StopIntent.from_json(run.stop_intent)
        ctx.store.add_event(run.id, "stop", f"stop + terminate ({intent.state})")
        backend = ctx.backends.get(run.backend)
        handle = RunHandle.from_json(run.handle) if run.handle else None
        delay, attempt = 2.0, 0
        obs = Observation(RunPhase.EXITED)
        while handle is not None and backend is not None:
            attempt += 1
            try:
                await ctx.checkpoint("stop.before-backend")
                await backend.stop(handle, ctx.config.supervisor.stop_grace_seconds)
                await ctx.checkpoint("stop.backend-stopped")
                obs = (await backend.observe([handle])).get(run.id, obs)
                await ctx.checkpoint("stop.verified")
                break
            except Exception as exc:
                self._stop_failed(run.id, attempt, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STOP_RETRY_MAX_S)
        await self.pumps.drain(run.id)
        await ctx.checkpoint("stop.drained")
        fresh = ctx.reader.run(run.id) or run
        cost, uptime = fresh.cost_so_far, fresh.uptime_s  # never less than what was billed
        with contextlib.suppress(TypeError, ValueError):  # a backend's odd numbers
            cost = max(float(obs.cost_per_hour) * float(obs.uptime_s) / 3600.0, cost)
            uptime = max(float(obs.uptime_s), uptime)
        warnings = tuple(w for w in fresh.warnings if w != RunWarning.TERMINATE_FAILED)
        self.finish(
            run.id, intent.state, intent.detail, intent.failure, obs.exit_code,
            intent.guard, intent.guard_kind, intent.relaunch,
            cost_so_far=cost, uptime_s=uptime, warnings=warnings,
        )  # fmt: skip
        ctx.store.add_event(run.id, intent.state, f"{intent.detail}; cost ${cost:.2f}")
        if intent.request_id:
            ctx.store.finish_request(
                intent.request_id, RequestStatus.DONE, f"stopped {run.id}", run.id
            )

    def _stop_failed(self, run_id: str, attempt: int, exc: Exception) -> None:
        store = self.ctx.store
        since = self._stop_failing_since.setdefault(run_id, self.ctx.clock())
        store.update_run(
            run_id,
            detail=f"stop pending: {describe(exc)} (failing since "
            f"{time.strftime('%H:%M', time.localtime(since))}; retried until it is done)",
        )
        if attempt & (attempt - 1) == 0:  # attempts 1, 2, 4, 8, ...: never a flood
            store.add_event(
                run_id,
                "alert",
                f"{run_id}: stop failed (attempt {attempt}): {describe(exc)}; retrying",
            )
        current = self.ctx.reader.run(run_id)
        if current is not None and RunWarning.TERMINATE_FAILED not in current.warnings:
            store.update_run(run_id, warnings=(*current.warnings, RunWarning.TERMINATE_FAILED))

    # ---- the terminal state ----------------------------------------------------------------

    def finish(
        self,
        run_id: str,
        state: RunState,
        detail: str,
        failure: health.Failure | None,
        exit_code: int | None,
        guard: str = "",
        guard_kind: Guard = Guard.NONE,
        relaunch: health.Relaunch | None = None,
        **extra: object,
    ) -> None:
        """Put a run in its terminal state (stage `wrap-up`); the relaunch request (with its
        backoff as `not_before`) or the guard's event in the same commit."""
        ctx = self.ctx
        now = ctx.clock()
        fields: dict[str, object] = {
            "state": state, "detail": detail, "ended_at": now, "exit_code": exit_code,
            "guard": guard, "guard_kind": guard_kind, "stage": Stage.WRAP_UP,
            "stop_intent": None, **extra,
        }  # fmt: skip
        if failure is not None:
            fields.update(
                failure_class=failure.kind,
                failure_line=failure.line,
                failure_source=failure.source,
                failure_line_no=failure.line_no,
            )
        with ctx.store.transaction():
            ctx.store.update_run(run_id, **fields)
            if relaunch is not None:
                ctx.reader.submit_request(
                    RelaunchRequest(run_id, auto=True), "supervisor",
                    not_before=now + relaunch.delay_s,
                )  # fmt: skip
                ctx.store.add_event(
                    run_id, "relaunch", f"relaunch in {relaunch.delay_s:.0f} s ({relaunch.reason})"
                )
            elif guard:
                ctx.store.add_event(run_id, "no-relaunch", f"not relaunched: {guard}")
        # Stops that joined one under way (or came during the launch) end with the run.
        ctx.store.finish_joined(
            run_id, StopRequest.KIND, RequestStatus.DONE, f"{run_id} ended {state}"
        )
        self.pumps.forget(run_id)
        self._stop_failing_since.pop(run_id, None)
        self.begin_wrap_up(run_id)

    # ---- wrap-up ---------------------------------------------------------------------------

    def begin_wrap_up(self, run_id: str) -> None:
        self._spawn("wrap-up", run_id)

    def _spawn(self, kind: str, run_id: str) -> None:
        self._tried[f"{kind}:{run_id}"] = self.ctx.clock()
        work = self._stop_and_terminate if kind == "stop" else self._wrap_up
        self.ctx.tasks.spawn(self._guarded(kind, run_id, work), name=f"{kind}:{run_id}")

    async def _guarded(
        self, kind: str, run_id: str, work: Callable[[str], Awaitable[None]]
    ) -> None:
        """A stop or wrap-up that raises stays in its stage (tried again later); the failure
        is said once, naming the exception and the run."""
        try:
            await work(run_id)
        except Exception as exc:
            said = f"{run_id}: {kind} failed: {describe(exc)}; tried again"
            if self._said.get(f"{kind}:{run_id}") != said:
                self._said[f"{kind}:{run_id}"] = said
                log.warning("%s", said, exc_info=exc)
                self.ctx.store.add_event(run_id, "alert", said)

    def resume(self, run: RunRecord) -> None:
        """Carry on with a stop or wrap-up that no task of this supervisor is doing: its
        supervisor died (carried on at once), or an earlier try failed (tried again after a
        pause: RETRY_S)."""
        kind = "stop" if run.stage is Stage.STOPPING else "wrap-up"
        if run.stage not in (Stage.STOPPING, Stage.WRAP_UP, Stage.WRITE_BACK):
            return
        if self.ctx.tasks.running(f"{kind}:{run.id}"):
            return
        tried = self._tried.get(f"{kind}:{run.id}")
        plan_changed = run.stage is Stage.WRITE_BACK and self._plan_seen.get(run.id) != _stamp(
            self.ctx.project / run.plan
        )  # a row waiting for its plan is tried as soon as the plan changes
        if tried is not None and self.ctx.clock() - tried < RETRY_S[kind] and not plan_changed:
            return
        if tried is None and kind == "stop":
            self.ctx.store.add_event(run.id, "stop", "stop under way when a supervisor stopped")
        if kind == "stop":
            self.begin_stop(run, StopIntent.from_json(run.stop_intent or {}))
        else:
            self.begin_wrap_up(run.id)

    async def _wrap_up(self, run_id: str) -> None:
        """Make sure nothing keeps running or billing, then write the result back."""
        ctx = self.ctx
        run = ctx.reader.run(run_id)
        if run is None or run.stage not in (Stage.WRAP_UP, Stage.WRITE_BACK):
            return
        if run.stage is Stage.WRAP_UP:
            await ctx.checkpoint("finish.recorded")
            if not await self._terminate(run):
                return  # stays in wrap-up: tried again
            await ctx.checkpoint("finish.terminated")
        if ctx.artifact_store is not None and run.handle:
            await self._logs_from_store(run)
        await ctx.checkpoint("finish.before-write-back")
        try:
            path, verdict = await self._write_back(run)
        except RowPending as pending:  # stays in write-back; tried again when the plan changes
            where = f"{pending.path.relative_to(ctx.project)}; its" if pending.path else "the"
            said = f"result {where} iteration-log row waits: {pending.why}"
            if self._said.get(f"row:{run.id}") != said:
                self._said[f"row:{run.id}"] = said
                ctx.store.add_event(run.id, "result-pending", said)
            return
        except Exception as exc:
            log.exception("write-back of %s failed", run.id)
            ctx.store.add_event(
                run.id, "alert", f"{run.id}: result write-back failed: {describe(exc)}"
            )
            return
        await ctx.checkpoint("finish.written")
        with ctx.store.transaction():
            ctx.store.update_run(run.id, stage=Stage.DONE, verdict=verdict)
            ctx.store.add_event(run.id, "result", f"wrote {path} and an iteration-log row")
        self._tried.pop(f"wrap-up:{run.id}", None)

    async def _terminate(self, run: RunRecord) -> bool:
        """Make sure nothing of the ended run keeps running or billing (for as long as it
        takes: `Terminator`), then record that (stage `write-back`). A failure terminates; so
        does success on a backend that bills by itself (a pod), once its artifacts were
        fetched; a launch that failed without a handle has what it may have created ended."""
        ctx = self.ctx
        await self.terminator.end(run)
        # Terminated: nothing bills any more (a stopped pod's volume included).
        run = ctx.reader.run(run.id) or run
        kept = tuple(w for w in run.warnings if w != RunWarning.STILL_BILLING)
        ctx.store.update_run(run.id, stage=Stage.WRITE_BACK, warnings=kept)
        return True

    async def _logs_from_store(self, run: RunRecord) -> None:
        """Complete the mirror from logs the run uploaded, when its machine went away before
        every byte was streamed (a pod that is gone, a host that never came back)."""
        ctx = self.ctx
        assert ctx.artifact_store is not None and run.handle is not None
        from backends.s3 import S3LogSource

        handle = RunHandle.from_json(run.handle)
        mirror = ctx.paths.mirror_log(run.id, "train")
        try:
            uploaded = await ctx.artifact_store.read(run.id, "logs/train.log")
        except Exception as exc:
            ctx.store.add_event(run.id, "alert", f"uploaded train log unreadable: {exc}")
            return
        have = mirror.read_bytes() if mirror.exists() else b""
        if not uploaded or len(uploaded) <= len(have):
            return
        if not uploaded.startswith(have):
            ctx.store.add_event(run.id, "alert", "uploaded train log differs from the mirror")
            return
        pump = self.pumps.pump(run.id, handle, LogSource.TRAIN)
        pump.backend = S3LogSource(ctx.artifact_store)
        await pump.run()
        ctx.store.add_event(
            run.id, "logs", f"{len(uploaded) - len(have)} bytes of train log from the store"
        )

    async def _write_back(self, run: RunRecord) -> tuple[str, str | None]:
        """Gather the numbers here (the store belongs to this thread), write files in another.
        Writing is idempotent on the run id: a second try finds the row it wrote."""
        ctx = self.ctx
        plan_path = ctx.project / run.plan
        self._plan_seen[run.id] = _stamp(plan_path)
        stats = {
            key: found
            for key in ctx.reader.metrics.keys(run.id)
            if (found := ctx.reader.metrics.stats(run.id, key)) is not None
        }
        final_json = read_metrics_json(ctx.paths.artifacts(run.id))
        summaries, finals = summarise_metrics(stats, final_json)
        written = await asyncio.to_thread(write_result, plan_path, run, summaries, finals)
        if written.kept_aside is not None:
            ctx.store.add_event(
                run.id, "alert",
                f"an edit to {run.plan} made while cockpit added {run.id}'s row could not be "
                f"merged: it is kept in {written.kept_aside.relative_to(ctx.project)}",
            )  # fmt: skip
        return str(written.path.relative_to(ctx.project)), written.verdict
