"""The supervisor: one background process per project that owns every run.

It builds its parts and hands each the ones it calls: `Pumps` (log mirroring), `Endings` (stop +
terminate, the terminal state, wrap-up), `Launches` (guards, pre-flight, the backend launch),
`Lifecycle` (observe, decide, act) and the `RequestDesk`. The loop here beats the heartbeat,
re-reads cockpit.toml when it changed, carries on whatever a dead supervisor left half done
(every run's stage says what), executes requests, and lets the lifecycle judge every run. It
keeps going when every UI is closed and exits by itself after a quiet period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from backends.base import Backend
from cockpit.core.backend_factory import machine_backends, make_backend
from cockpit.core.config import CockpitConfig
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import Stage
from cockpit.core.records import Request
from cockpit.store import wake
from cockpit.store.writer import Store
from cockpit.supervisor.context import (
    Checkpoints,
    Clock,
    Context,
    PlanCache,
    Tasks,
    artifact_store_for,
    describe,
    log,
)
from cockpit.supervisor.endings import Endings
from cockpit.supervisor.gpu_hosts import GpuHosts
from cockpit.supervisor.launches import Launches
from cockpit.supervisor.lifecycle import Lifecycle
from cockpit.supervisor.live_config import LiveConfig
from cockpit.supervisor.log_pumps import Pumps, Tracked
from cockpit.supervisor.loops import Loops
from cockpit.supervisor.notify import Notifier
from cockpit.supervisor.queue import Queue
from cockpit.supervisor.request_desk import RequestDesk

REQUEST_CHECK_S = 0.1
"""How often, between polls, the store is asked whether a client wrote something (a request)."""
BackendFactory = Callable[[str, CockpitConfig, ProjectPaths, Clock], Backend]
"""Makes the backend a configured name stands for (tests pass one that makes fakes)."""


class Supervisor:
    def __init__(
        self,
        project: Path,
        config: CockpitConfig,
        store: Store | None = None,
        clock: Clock = time.time,
        backend_factory: BackendFactory = make_backend,
    ) -> None:
        paths = ProjectPaths(project)
        self.make_backend = backend_factory
        store = store or Store(paths.db)
        self.ctx = ctx = Context(
            project=project,
            paths=paths,
            store=store,
            reader=store.reader,
            config=config,
            backends={
                name: backend_factory(name, config, paths, clock)
                for name in machine_backends(config)
            },
            clock=clock,
            notifier=Notifier(config.notify, project),
            tasks=Tasks(),
            plans=PlanCache(project),
            checkpoint=Checkpoints(),
            wake=asyncio.Event(),
            artifact_store=artifact_store_for(config),
        )
        self.pumps = Pumps(ctx)
        self.endings = Endings(ctx, self.pumps)
        self.gpu_hosts = GpuHosts(ctx)
        self.queue = Queue(ctx, self.gpu_hosts)
        self.launches = Launches(ctx, self.pumps, self.endings, self.queue)
        self.lifecycle = Lifecycle(ctx, self.pumps, self.endings)
        self.loops = Loops(ctx)
        self.desk = RequestDesk(ctx, self.launches, self.endings, self.loops)
        self.live_config = LiveConfig(project, config, ctx.store, self._config_changed)
        self.started_at = clock()
        self.stop_requested = False
        self.polls = 0
        """Polls completed, for tests that wait a number of polls."""
        self._failing: dict[str, str] = {}
        """Poll steps failing now, and how (said once until they succeed)."""
        self._retired: list[Backend] = []
        """Backends replaced by a config change, closed at shutdown."""
        self._nudges: asyncio.BaseTransport | None = None
        """Where clients' nudges arrive (None: the store is asked every REQUEST_CHECK_S)."""
        self._deferred: set[str] = set()
        """Backends whose settings changed while runs were active on them."""

    # What tests and the CLI reach for.
    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def config(self) -> CockpitConfig:
        return self.ctx.config

    @property
    def backends(self) -> dict[str, Backend]:
        return self.ctx.backends

    @property
    def tracked(self) -> dict[str, Tracked]:
        return self.pumps.tracked

    async def execute_request(self, request: Request) -> None:
        await self.desk.execute(request)

    # ---- the loop --------------------------------------------------------------------------

    async def run_forever(self, idle_exit_s: float | None = None) -> None:
        """Poll until idle for `idle_exit_s` (config default); never overlaps polls."""
        store = self.ctx.store
        store.add_event(None, "supervisor", f"supervisor started (pid {os.getpid()})")
        store.recover_interrupted_requests()
        await self._listen_for_nudges()
        last_busy = self.ctx.clock()
        try:
            while True:
                try:
                    await self.poll_once()
                except Exception as exc:  # a bad poll must not end supervision
                    self._failed("poll", exc)
                idle_exit = (
                    self.ctx.config.supervisor.idle_exit_seconds
                    if idle_exit_s is None
                    else idle_exit_s
                )
                if self.is_busy():
                    last_busy = self.ctx.clock()
                elif self.ctx.clock() - last_busy >= idle_exit:
                    store.add_event(None, "supervisor", "supervisor exits: idle")
                    return
                await self._sleep_until_next_poll()
                if self.stop_requested:  # a signal whose cancellation an await swallowed
                    raise asyncio.CancelledError
        finally:
            await self.shutdown()

    def request_stop(self) -> None:
        """A signal asked the supervisor to stop: it does after the poll under way, even when
        the cancellation of its task is lost (Python 3.11's `wait_for` can swallow one that
        arrives as the wait ends)."""
        self.stop_requested = True
        self.ctx.wake.set()

    async def poll_once(self) -> None:
        """One poll. Each step is isolated: one failing never skips the ones after it (the
        cost caps above all)."""
        for step, name in (
            (self._beat, "heartbeat"),
            (self._reload_config, "config reload"),
            (self._resume_half_done, "resuming interrupted work"),
            (self._execute_requests, "requests"),
            (self._place, "placement"),
            (self.lifecycle.observe_and_decide, "health checks"),
            (self.loops.step, "loops"),
            (self._backend_alerts, "backend alerts"),
        ):
            try:
                await step()
                self._failing.pop(name, None)
            except Exception as exc:
                self._failed(name, exc)
        self.polls += 1

    async def _place(self) -> None:
        """Ask the placed hosts for their GPUs when due (beside the poll), and start the
        queued runs that fit now."""
        active = self.ctx.reader.active_backends()  # one small query for both
        self.gpu_hosts.ask(active, self.queue.waiting_on)
        if any(active.values()):  # something is queued
            self.queue.advance(self.launches.start_placed)
        else:
            self.queue.waiting_on = set()

    async def _backend_alerts(self) -> None:
        """What the backends say needs the user (a refused API key, a changed host key), as
        standing alerts that clear with their condition."""
        ctx = self.ctx
        now: dict[str, str] = {}
        for backend in ctx.backends.values():
            now.update({f"backend:{key}": text for key, text in backend.standing_alerts().items()})
        for key, text in now.items():
            if ctx.store.set_alert(key, text):
                ctx.store.add_event(None, "alert", text)
        for alert in ctx.reader.alerts():
            if alert.key.startswith("backend:") and alert.key not in now:
                ctx.store.clear_alert(alert.key)
                ctx.store.add_event(None, "alert-cleared", f"cleared: {alert.message}")

    async def _beat(self) -> None:
        self.ctx.store.beat(self.started_at)

    def _failed(self, name: str, exc: Exception) -> None:
        """Log a failing poll step, and record it, once while it keeps failing the same way
        (a full disk fails every poll; its store write fails too)."""
        said = describe(exc)
        if self._failing.get(name) == said:
            log.debug("%s failed again: %s", name, said)
            return
        self._failing[name] = said
        log.exception("%s failed", name)
        with contextlib.suppress(Exception):
            self.ctx.store.add_event(None, "alert", f"poll step {name} failed: {said}")

    async def _reload_config(self) -> None:
        self.live_config.check()
        self._apply_backend_changes()

    async def _resume_half_done(self) -> None:
        """Launches, stops and wrap-ups no task of this supervisor is carrying out: a dead
        supervisor's, or earlier tries that failed."""
        for run in self.ctx.reader.runs_in_stage(
            Stage.PREFLIGHT, Stage.LAUNCHING, Stage.STOPPING, Stage.WRAP_UP, Stage.WRITE_BACK
        ):
            try:
                if run.stage in (Stage.PREFLIGHT, Stage.LAUNCHING):
                    self.launches.resume(run)
                else:
                    self.endings.resume(run)
            except Exception as exc:
                log.exception("resuming %s failed", run.id)
                self.ctx.store.add_event(
                    run.id, "alert", f"{run.id}: resuming its {run.stage} failed: {describe(exc)}"
                )

    async def _execute_requests(self) -> None:
        for request in self.ctx.reader.pending_requests(now=self.ctx.clock()):
            if not self.desk.waiting(request):
                await self.desk.execute(request)

    def _config_changed(self, before: CockpitConfig, after: CockpitConfig) -> None:
        """A new config is in force: rebuild what was built from the old one. A backend whose
        settings changed is rebuilt; runs already on it keep their handle (a new host applies
        to new runs once the old ones end)."""
        ctx = self.ctx
        ctx.config = after
        ctx.notifier.config = after.notify
        ctx.artifact_store = artifact_store_for(after)
        self.pumps.configure()
        changed = {
            name
            for name in set(after.backends) | set(ctx.backends)
            if before.backends.get(name) != after.backends.get(name) or name not in ctx.backends
        }
        self._deferred = (self._deferred | changed) & (set(after.backends) | set(ctx.backends))
        self._apply_backend_changes(announce=True)

    def _apply_backend_changes(self, announce: bool = False) -> None:
        """Rebuild (or drop) backends whose settings changed, each once it has no active run:
        a run keeps the backend it was launched on until it ends."""
        if not self._deferred:
            return
        ctx = self.ctx
        active: dict[str, int] = {}
        for run in ctx.reader.active_runs():
            active[run.backend] = active.get(run.backend, 0) + 1
        for name in sorted(self._deferred):
            if active.get(name):
                if announce:
                    message = f"backend {name} changed: applies once its active runs end"
                    ctx.store.add_event(None, "config", message)
                continue
            self._deferred.discard(name)
            old = ctx.backends.pop(name, None)
            if old is not None:
                self._retired.append(old)
            if name in machine_backends(ctx.config):
                ctx.backends[name] = self.make_backend(name, ctx.config, ctx.paths, ctx.clock)

    async def _listen_for_nudges(self) -> None:
        """Wake on a client's nudge (see `cockpit.store.wake`); without one, ask the store."""
        if not wake.available():
            return
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(wake.address(self.ctx.paths.db))
        except OSError:  # another supervisor of this store listens (tests): ask the store
            sock.close()
            return
        event = self.ctx.wake

        class Nudged(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                event.set()

        self._nudges, _ = await loop.create_datagram_endpoint(Nudged, sock=sock)

    async def _sleep_until_next_poll(self) -> None:
        """Wait one poll interval, waking early when a client writes a request."""
        ctx = self.ctx
        if self._nudges is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.wake.wait(), ctx.config.supervisor.poll_seconds)
            ctx.wake.clear()
            return
        deadline = time.monotonic() + ctx.config.supervisor.poll_seconds
        version = ctx.reader.data_version()
        while (left := deadline - time.monotonic()) > 0:
            # A plain sleep and a flag: a timed wait on the event made and cancelled a task
            # ten times a second (a third of an idle supervisor's CPU).
            await asyncio.sleep(min(REQUEST_CHECK_S, left))
            if ctx.wake.is_set():
                ctx.wake.clear()
                return
            if ctx.reader.data_version() != version:
                return

    def is_busy(self) -> bool:
        """Anything to do: active runs, pending requests, a stop or wrap-up not finished
        (one query), work in flight, logs still flowing."""
        return bool(self.ctx.tasks or self.pumps.flowing() or self.ctx.reader.has_work())

    async def shutdown(self) -> None:
        """Stop mirroring (runs keep going; a new supervisor re-attaches)."""
        tasks = [
            *self.pumps.all_tasks(), *self.ctx.tasks.all(), *self.lifecycle.in_flight(),
            *self.gpu_hosts.in_flight(),
        ]  # fmt: skip
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: shutting down must never hang on a stuck channel or thread
            await asyncio.wait(tasks, timeout=10)
        await self.ctx.notifier.drain()
        if self._nudges is not None:
            self._nudges.close()
        for backend in [*self.ctx.backends.values(), *self._retired]:
            with contextlib.suppress(Exception):
                await backend.close()
