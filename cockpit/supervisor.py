"""The supervisor: one background process per project that owns every run.

It executes request rows (launch, stop, relaunch) exactly once, observes all runs of a backend in
one call per poll, lets `health.decide` say what each run needs, mirrors the three log sources of
every active run, and keeps cost so far current. It re-attaches to live runs when restarted and
keeps going when every UI is closed; it exits by itself after a quiet period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import Backend, LogSource, Observation, RunHandle, RunPhase, RunSpec
from cockpit import health
from cockpit.artifacts import check_artifacts
from cockpit.config import CockpitConfig
from cockpit.gitinfo import head_commit
from cockpit.launcher import RequestRefused, build_run, find_hypothesis, new_run_id
from cockpit.logparse import MetricParser
from cockpit.pump import LogPump
from cockpit.runtime import ProjectPaths, make_backend
from cockpit.store import Request, RunRecord, Store

log = logging.getLogger("cockpit.supervisor")
Clock = Callable[[], float]
COST_SAMPLE_EVERY_S = 10.0


@dataclass
class _Tracked:
    """What the supervisor holds in memory for an active run."""

    handle: RunHandle
    pumps: dict[LogSource, asyncio.Task[None]] = field(default_factory=dict)
    stopping: bool = False
    artifacts: health.ArtifactCheck | None = None
    last_cost_sample: float = 0.0


class Supervisor:
    def __init__(
        self,
        project: Path,
        config: CockpitConfig,
        store: Store | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.project = project
        self.config = config
        self.paths = ProjectPaths(project)
        self.store = store or Store(self.paths.db)
        self.clock = clock
        self.backends: dict[str, Backend] = {
            name: make_backend(name, config, self.paths) for name in config.backends
        }
        self.parser = MetricParser.from_config(config.metrics.patterns)
        self.tracked: dict[str, _Tracked] = {}
        self.started_at = clock()
        self._last_busy = clock()
        self._stop_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    # ---- main loop ------------------------------------------------------------------------

    async def run_forever(self, idle_exit_s: float | None = None) -> None:
        """Poll until idle for `idle_exit_s` (config default); never overlaps polls."""
        idle_exit = self.config.supervisor.idle_exit_seconds if idle_exit_s is None else idle_exit_s
        self.store.add_event(None, "supervisor", f"supervisor started (pid {os.getpid()})")
        self.store.recover_interrupted_requests()
        try:
            while True:
                try:
                    await self.poll_once()
                except Exception as exc:  # a bad poll must not end supervision
                    log.exception("poll failed")
                    with contextlib.suppress(Exception):
                        self.store.add_event(None, "alert", f"poll failed: {exc}")
                if self.is_busy():
                    self._last_busy = self.clock()
                elif self.clock() - self._last_busy >= idle_exit:
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
        return bool(
            self.store.active_runs()
            or self.store.pending_requests()
            or self._stop_tasks
            or any(t.pumps for t in self.tracked.values())
        )

    async def shutdown(self) -> None:
        """Stop mirroring (runs keep going; a new supervisor re-attaches)."""
        for tracked in self.tracked.values():
            for task in tracked.pumps.values():
                task.cancel()
        for tracked in self.tracked.values():
            for task in tracked.pumps.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for backend in self.backends.values():
            await backend.close()

    async def poll_once(self) -> None:
        self.store.beat(self.started_at)
        for request in self.store.pending_requests():
            await self.execute_request(request)
        await self.observe_and_decide()

    # ---- requests -------------------------------------------------------------------------

    async def execute_request(self, request: Request) -> None:
        if not self.store.claim_request(request.id):
            return
        try:
            if request.kind == "launch":
                run = await self.launch(
                    request.payload["hypothesis"],
                    plan=request.payload.get("plan"),
                    backend=request.payload.get("backend"),
                    request_id=request.id,
                )
                self.store.finish_request(request.id, "done", f"launched {run.id}", run.id)
            elif request.kind == "relaunch":
                old = self.store.run(request.payload["run_id"])
                if old is None:
                    raise RequestRefused(f"no run {request.payload['run_id']}")
                run = await self.launch(
                    old.hypothesis, plan=old.plan, backend=old.backend, request_id=request.id
                )
                self.store.add_event(run.id, "relaunch", f"relaunch of {old.id}")
                self.store.finish_request(request.id, "done", f"launched {run.id}", run.id)
            elif request.kind == "stop":
                run_id = request.payload["run_id"]
                self.begin_stop(run_id, request.id)
            else:
                raise RequestRefused(f"unknown request kind {request.kind!r}")
        except RequestRefused as refusal:
            self.store.finish_request(request.id, "refused", str(refusal))
            self.store.add_event(None, "refused", f"{request.kind}: {refusal}")
        except Exception as exc:  # never let one request take the supervisor down
            log.exception("request %s failed", request.id)
            self.store.finish_request(request.id, "failed", f"{type(exc).__name__}: {exc}")

    # ---- launch ---------------------------------------------------------------------------

    async def launch(
        self,
        hypothesis: str,
        plan: str | None = None,
        backend: str | None = None,
        request_id: str | None = None,
    ) -> RunRecord:
        _, plan_rel, hyp = find_hypothesis(self.project, self.config.plans, hypothesis, plan)
        backend_name = backend or self.config.default_backend
        if backend_name not in self.backends:
            raise RequestRefused(
                f"no backend {backend_name!r} (configured: {', '.join(sorted(self.backends))})"
            )
        for active in self.store.active_runs():
            if active.hypothesis == hyp.id and active.plan == plan_rel:
                raise RequestRefused(f"{hyp.id} is already running as {active.id}")
        backend_obj = self.backends[backend_name]
        commit = head_commit(self.project)
        run_id = new_run_id(hyp.id, lambda candidate: self.store.run(candidate) is not None)
        spec, record = build_run(
            self.config,
            self.project,
            hyp,
            plan_rel,
            backend_name,
            backend_obj.run_dir(run_id),
            commit,
            run_id,
            request_id,
            self.clock(),
        )
        with self.store.transaction():
            self.store.create_run(record)
            self.store.add_event(
                run_id, "launch", f"launch {hyp.id} ({plan_rel}) on {backend_name} at {commit[:12]}"
            )
        self.paths.mirror(run_id).mkdir(parents=True, exist_ok=True)
        return await self._start(record, spec, backend_obj)

    async def _start(self, record: RunRecord, spec: RunSpec, backend: Backend) -> RunRecord:
        try:
            handle = await backend.launch(spec)
        except Exception as exc:
            detail = f"launch failed: {type(exc).__name__}: {exc}"
            with self.store.transaction():
                self.store.update_run(
                    record.id, state="failed", detail=detail, ended_at=self.clock()
                )
                self.store.add_event(record.id, "failed", detail)
            raise
        with self.store.transaction():
            self.store.update_run(
                record.id, handle=handle.to_json(), started_at=self.clock(), detail="setup"
            )
        self._track(record.id, handle)
        self._wake.set()
        run = self.store.run(record.id)
        assert run is not None
        return run

    # ---- tracking and pumps ---------------------------------------------------------------

    def _track(self, run_id: str, handle: RunHandle) -> _Tracked:
        tracked = self.tracked.get(run_id)
        if tracked is None:
            tracked = self.tracked[run_id] = _Tracked(handle)
        backend = self.backends[handle.backend]
        for source in LogSource:
            task = tracked.pumps.get(source)
            if task is None:
                pump = LogPump(
                    self.store,
                    backend,
                    handle,
                    source,
                    self.paths.mirror_log(run_id, source.value),
                    self.parser,
                    self.config.metrics.progress_key,
                    self.clock,
                )
                tracked.pumps[source] = asyncio.create_task(
                    self._run_pump(pump), name=f"pump:{run_id}:{source.value}"
                )
        return tracked

    async def _run_pump(self, pump: LogPump) -> None:
        delay = 0.5
        while True:
            try:
                await pump.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = f"{pump.source.value} stream interrupted: {type(exc).__name__}: {exc}"
                log.warning("%s: %s", pump.run_id, message)
                self.store.add_event(pump.run_id, "stream", message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _drained(self, tracked: _Tracked) -> bool:
        return all(task.done() for task in tracked.pumps.values())

    # ---- observe and decide ---------------------------------------------------------------

    async def observe_and_decide(self) -> None:
        active = self.store.active_runs()
        by_backend: dict[str, list[tuple[RunRecord, RunHandle]]] = defaultdict(list)
        for run in active:
            if run.handle is None:
                await self._resume_launch(run)
                continue
            handle = RunHandle.from_json(run.handle)
            tracked = self._track(run.id, handle)
            if tracked.stopping:
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
            for run, _handle in pairs:
                obs = observations.get(run.id)
                if obs is not None:
                    await self._apply(run, obs)

    async def _resume_launch(self, run: RunRecord) -> None:
        """A run created by a supervisor that died inside `backend.launch`: launch is
        idempotent on the run id, so ask again."""
        backend = self.backends.get(run.backend)
        if backend is None:
            return
        spec = RunSpec.from_json(run.spec)
        with contextlib.suppress(Exception):
            await self._start(run, spec, backend)

    async def _apply(self, run: RunRecord, obs: Observation) -> None:
        tracked = self.tracked[run.id]
        now = self.clock()
        cost = obs.cost_per_hour * obs.uptime_s / 3600.0
        self.store.update_run(
            run.id, cost_per_hour=obs.cost_per_hour, cost_so_far=cost, uptime_s=obs.uptime_s
        )
        if now - tracked.last_cost_sample >= COST_SAMPLE_EVERY_S:
            self.store.add_cost_sample(run.id, now, obs.cost_per_hour, cost)
            tracked.last_cost_sample = now
        facts = health.RunFacts(
            state=run.state,
            logs_drained=self._drained(tracked),
            artifacts=tracked.artifacts,
            stopping=tracked.stopping,
        )
        policy = health.Policy(success_markers=tuple(run.spec.get("success_markers", ())))
        for _ in range(3):  # CheckArtifacts asks to decide again with more facts
            actions = health.decide(facts, obs, policy, now)
            again = False
            for action in actions:
                if isinstance(action, health.CheckArtifacts):
                    tracked.artifacts = await check_artifacts(
                        self.backends[run.backend],
                        tracked.handle,
                        list(run.spec.get("success_markers", ())),
                        self.paths.artifacts(run.id),
                    )
                    facts = health.RunFacts(
                        state=run.state, logs_drained=True, artifacts=tracked.artifacts
                    )
                    again = True
                elif isinstance(action, health.SetState):
                    self._set_state(run, action.state, action.detail, obs)
                elif isinstance(action, health.Notify):
                    self.store.add_event(run.id, action.kind, action.message)
            if not again:
                break

    def _set_state(self, run: RunRecord, state: str, detail: str, obs: Observation) -> None:
        fields: dict[str, object] = {"state": state, "detail": detail}
        if state in ("succeeded", "failed", "stopped"):
            fields["ended_at"] = self.clock()
            fields["exit_code"] = obs.exit_code
        with self.store.transaction():
            self.store.update_run(run.id, **fields)
        if state in ("succeeded", "failed", "stopped"):
            self.tracked.pop(run.id, None)

    # ---- stop -----------------------------------------------------------------------------

    def begin_stop(self, run_id: str, request_id: str | None = None) -> None:
        run = self.store.find_run(run_id)
        if run is None:
            raise RequestRefused(f"no run {run_id}")
        if not run.active:
            raise RequestRefused(f"run {run.id} is already {run.state}")
        tracked = self.tracked.get(run.id)
        if tracked is not None and tracked.stopping:
            raise RequestRefused(f"run {run.id} is already being stopped")
        task = asyncio.create_task(self.stop_and_terminate(run, request_id))
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    async def stop_and_terminate(self, run: RunRecord, request_id: str | None = None) -> None:
        """Stop the run, verify it is gone, finish mirroring its logs, mark it stopped."""
        self.store.add_event(run.id, "stop", "stop + terminate requested")
        backend = self.backends[run.backend]
        handle = RunHandle.from_json(run.handle) if run.handle else None
        tracked = self._track(run.id, handle) if handle else None
        if tracked:
            tracked.stopping = True
        try:
            if handle is not None:
                await backend.stop(handle, self.config.supervisor.stop_grace_seconds)
                observed = await backend.observe([handle])
                obs = observed.get(run.id, Observation(RunPhase.EXITED))
            else:
                obs = Observation(RunPhase.EXITED)
            if tracked:
                await asyncio.wait(list(tracked.pumps.values()), timeout=30)
            cost = obs.cost_per_hour * obs.uptime_s / 3600.0
            with self.store.transaction():
                self.store.update_run(
                    run.id,
                    state="stopped",
                    detail="stopped and terminated",
                    ended_at=self.clock(),
                    exit_code=obs.exit_code,
                    cost_so_far=cost,
                    uptime_s=obs.uptime_s,
                )
                self.store.add_event(run.id, "stopped", f"stopped; cost ${cost:.2f}")
                if request_id:
                    self.store.finish_request(request_id, "done", f"stopped {run.id}", run.id)
            self.tracked.pop(run.id, None)
        except Exception as exc:
            if tracked:
                tracked.stopping = False
            message = f"stop failed: {type(exc).__name__}: {exc}"
            self.store.add_event(run.id, "alert", message)
            if request_id:
                self.store.finish_request(request_id, "failed", message, run.id)
