"""What every part of the supervisor shares: the store, the backends, the runs it tracks, the
log pumps, plan files read once per change, and notifications."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import Backend, LogSource, RunHandle
from backends.s3 import S3Artifacts
from cockpit import health
from cockpit.config import CockpitConfig
from cockpit.facts import Progress
from cockpit.logparse import MetricParser
from cockpit.notify import Notifier
from cockpit.plan import Plan, PlanError, load_plan
from cockpit.pump import LogPump
from cockpit.records import RunRecord
from cockpit.runtime import ProjectPaths, make_backend
from cockpit.store import Store

log = logging.getLogger("cockpit.supervisor")
Clock = Callable[[], float]


@dataclass
class Tracked:
    """What the supervisor holds in memory for an active run."""

    handle: RunHandle
    pumps: dict[LogSource, asyncio.Task[None]] = field(default_factory=dict)
    stopping: bool = False
    artifacts: health.ArtifactCheck | None = None
    last_cost_sample: float = 0.0
    progress: Progress = field(default_factory=Progress)


class SupervisorBase:
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
            name: make_backend(name, config, self.paths, clock) for name in config.backends
        }
        self.parser = MetricParser.from_config(config.metrics.patterns)
        self.tracked: dict[str, Tracked] = {}
        self.launching: set[str] = set()
        """Runs whose pre-flight or backend launch is under way."""
        self.stop_during_launch: dict[str, str | None] = {}
        """Runs stopped while launching (with the stop request's id): the launch ends them."""
        self.started_at = clock()
        self.notifier = Notifier(config.notify, project)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._plans: dict[str, tuple[float, Plan | None]] = {}
        self.artifact_store: S3Artifacts | None = None
        if config.artifacts.kind == "s3" and config.artifacts.bucket:
            self.artifact_store = S3Artifacts(
                config.artifacts.bucket,
                config.artifacts.prefix,
                config.artifacts.endpoint_url,
                config.artifacts.region,
            )

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run work (a stop, a launch) beside the poll loop, so no poll waits for it."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def plan(self, plan_rel: str) -> Plan | None:
        """The plan at `plan_rel`, parsed again only when the file changed."""
        path = self.project / plan_rel
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._plans.get(plan_rel)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            plan: Plan | None = load_plan(path)
        except (PlanError, OSError):
            plan = cached[1] if cached else None  # the last good plan
        self._plans[plan_rel] = (mtime, plan)
        return plan

    def finish(
        self,
        run_id: str,
        state: str,
        detail: str,
        failure: health.Failure | None,
        exit_code: int | None,
        guard: str = "",
    ) -> None:
        """Put a run in a terminal state (the lifecycle part of the supervisor does this)."""
        raise NotImplementedError

    def begin_stop_and_terminate(
        self, run: RunRecord, request_id: str | None, *args: Any, **kwargs: Any
    ) -> None:
        """Stop a run and end it (the lifecycle part of the supervisor does this)."""
        raise NotImplementedError

    def notify(self, run: RunRecord, kind: str, message: str) -> None:
        self.store.add_event(run.id, kind, message)
        self.notifier.send(
            {
                "kind": kind,
                "run_id": run.id,
                "hypothesis": run.hypothesis,
                "plan": run.plan,
                "message": message,
                "t": self.clock(),
            }
        )

    # ---- log pumps ------------------------------------------------------------------------

    def track(self, run_id: str, handle: RunHandle) -> Tracked:
        tracked = self.tracked.get(run_id)
        if tracked is None:
            tracked = self.tracked[run_id] = Tracked(handle)
        backend = self.backends[handle.backend]
        for source in LogSource:
            if source not in tracked.pumps:
                pump = LogPump(
                    self.store,
                    backend,
                    handle,
                    source,
                    self.paths.mirror_log(run_id, source.value),
                    self.parser,
                    self.config.metrics.progress_key,
                    self.clock,
                    loss_key=self.config.metrics.loss_key,
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

    @staticmethod
    def drained(tracked: Tracked) -> bool:
        return all(task.done() for task in tracked.pumps.values())
