"""The supervisor: one background process per project that owns every run.

It executes request rows (launch, stop, relaunch, raise cap) exactly once, observes all runs of
a backend in one call per poll, lets `health.decide` say what each run needs, mirrors the three
log sources of every active run, and keeps cost so far current. It re-attaches to live runs when
restarted and keeps going when every UI is closed; it exits by itself after a quiet period.

The work is split by concern: `run_launch` (guards, pre-flight, backend launch),
`run_lifecycle` (observe, decide, act, stop, write back); this module is the loop and the
request desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from cockpit.launcher import RequestRefused
from cockpit.run_launch import LaunchMixin
from cockpit.run_lifecycle import LifecycleMixin
from cockpit.store import Request
from cockpit.supervisor_base import log

__all__ = ["RequestRefused", "Supervisor"]


class Supervisor(LifecycleMixin, LaunchMixin):
    async def run_forever(self, idle_exit_s: float | None = None) -> None:
        """Poll until idle for `idle_exit_s` (config default); never overlaps polls."""
        idle_exit = self.config.supervisor.idle_exit_seconds if idle_exit_s is None else idle_exit_s
        self.store.add_event(None, "supervisor", f"supervisor started (pid {os.getpid()})")
        self.store.recover_interrupted_requests()
        for run in self.store.runs_without_result(since=self.clock() - 86400):
            self.spawn(self.after_terminal(run.id), name=f"after:{run.id}")
        last_busy = self.clock()
        try:
            while True:
                try:
                    await self.poll_once()
                except Exception as exc:  # a bad poll must not end supervision
                    log.exception("poll failed")
                    with contextlib.suppress(Exception):
                        self.store.add_event(None, "alert", f"poll failed: {exc}")
                if self.is_busy():
                    last_busy = self.clock()
                elif self.clock() - last_busy >= idle_exit:
                    self.store.add_event(None, "supervisor", "supervisor exits: idle")
                    return
                await self._sleep_until_next_poll()
        finally:
            await self.shutdown()

    async def _sleep_until_next_poll(self) -> None:
        """Wait one poll interval, waking early when a client writes a request."""
        deadline = time.monotonic() + self.config.supervisor.poll_seconds
        version = self.store.data_version()
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            if self._wake.is_set():
                self._wake.clear()
                return
            if self.store.data_version() != version:
                return

    def is_busy(self) -> bool:
        """Anything to do: active runs, pending requests, work in flight, logs still flowing.
        (Finished pumps do not count: they kept a supervisor alive forever once.)"""
        return bool(
            self.store.active_runs()
            or self.store.pending_requests()
            or self._tasks
            or any(not task.done() for t in self.tracked.values() for task in t.pumps.values())
        )

    async def shutdown(self) -> None:
        """Stop mirroring (runs keep going; a new supervisor re-attaches)."""
        tasks = [task for t in self.tracked.values() for task in t.pumps.values()]
        tasks += list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: shutting down must never hang on a stuck channel or thread
            await asyncio.wait(tasks, timeout=10)
        await self.notifier.drain()
        for backend in self.backends.values():
            await backend.close()

    async def poll_once(self) -> None:
        self.store.beat(self.started_at)
        for request in self.store.pending_requests(now=self.clock()):
            await self.execute_request(request)
        await self.observe_and_decide()

    async def execute_request(self, request: Request) -> None:
        if not self.store.claim_request(request.id):
            return
        payload = request.payload
        try:
            if request.kind == "launch":
                run = await self.launch(
                    payload["hypothesis"],
                    plan=payload.get("plan"),
                    backend=payload.get("backend"),
                    request_id=request.id,
                    allow_dirty=bool(payload.get("allow_dirty")),
                )
                self.store.finish_request(request.id, "done", f"launched {run.id}", run.id)
            elif request.kind == "relaunch":
                old = self.store.find_run(payload["run_id"])
                if old is None:
                    raise RequestRefused(f"no run {payload['run_id']}")
                if payload.get("auto"):
                    run = await self.relaunch_same_spec(old, request.id)
                else:
                    run = await self.launch(
                        old.hypothesis, plan=old.plan, backend=old.backend,
                        request_id=request.id, allow_dirty=bool(payload.get("allow_dirty")),
                        parent=old,
                    )  # fmt: skip
                self.store.add_event(run.id, "relaunch", f"relaunch of {old.id}")
                self.store.finish_request(request.id, "done", f"launched {run.id}", run.id)
            elif request.kind == "stop":
                self.request_stop(payload["run_id"], request.id)
            elif request.kind == "raise_cap":
                message = self.raise_cap(payload, request.client)
                self.store.finish_request(request.id, "done", message)
            else:
                raise RequestRefused(f"unknown request kind {request.kind!r}")
        except RequestRefused as refusal:
            self.store.finish_request(request.id, "refused", str(refusal))
            self.store.add_event(None, "refused", f"{request.kind}: {refusal}")
        except Exception as exc:  # never let one request take the supervisor down
            log.exception("request %s failed", request.id)
            self.store.finish_request(request.id, "failed", f"{type(exc).__name__}: {exc}")

    def request_stop(self, run_id: str, request_id: str | None = None) -> None:
        run = self.store.find_run(run_id)
        if run is None:
            raise RequestRefused(f"no run {run_id}")
        if not run.active:
            raise RequestRefused(f"run {run.id} is already {run.state}")
        tracked = self.tracked.get(run.id)
        if (tracked is not None and tracked.stopping) or run.id in self.stop_during_launch:
            raise RequestRefused(f"run {run.id} is already being stopped")
        if run.id in self.launching:
            # Pre-flight or the backend launch is under way: it stops the run as soon as the
            # backend has something to stop (a pod is terminated the moment it exists).
            self.stop_during_launch[run.id] = request_id
            self.store.add_event(run.id, "stop", "stop requested during launch")
            return
        self.begin_stop_and_terminate(run, request_id, guard="stopped on request")

    def raise_cap(self, payload: dict[str, object], client: str) -> str:
        from cockpit import facts

        plan_rel = str(payload["plan"])
        hypothesis_id = payload.get("hypothesis")
        try:
            cap = float(payload["cap"])  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise RequestRefused(f"not a dollar amount: {payload.get('cap')!r}") from exc
        plan = self.plan(plan_rel)
        if hypothesis_id is None:
            current = facts.plan_cap(self.store, self.config, plan_rel)
            what = f"plan {plan_rel}"
        else:
            hyp = plan.hypothesis(str(hypothesis_id)) if plan else None
            current = facts.run_cap(self.store, self.config, plan_rel, hyp)
            what = f"{hypothesis_id} ({plan_rel})"
        if current is not None and cap <= current:
            raise RequestRefused(f"${cap:.2f} does not raise the cap of {what} (${current:.2f})")
        hyp_key = str(hypothesis_id) if hypothesis_id is not None else None
        self.store.raise_cap(plan_rel, hyp_key, cap, client)
        before = f"${current:.2f}" if current is not None else "none"
        message = f"cost cap of {what} raised from {before} to ${cap:.2f} by {client}"
        self.store.add_event(None, "cap-raised", message)
        return message
