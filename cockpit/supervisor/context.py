"""What every part of the supervisor is given: the project's paths and store, the backends, the
config in force, a clock, the notifier, the set of tasks running beside the poll loop, the plan
files, and the named points where a crash is survived.

The parts (launches, lifecycle, endings, pumps, the request desk) are separate objects built
with this context and with the parts they call; none inherits from another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Backend
from backends.s3 import S3Artifacts
from cockpit.core.clock import Clock
from cockpit.core.config import CockpitConfig
from cockpit.core.launch_spec import RequestRefused
from cockpit.core.paths import ProjectPaths
from cockpit.core.plan import Plan, PlanError, load_plan
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader
from cockpit.store.writer import Store
from cockpit.supervisor.notify import Notifier

log = logging.getLogger("cockpit.supervisor")
__all__ = [
    "KILL_POINTS",
    "LOOP_KILL_POINTS",
    "Checkpoints",
    "Context",
    "PlanCache",
    "RequestRefused",
    "Tasks",
]


KILL_POINTS: tuple[str, ...] = (
    # launch: the run row exists (stage preflight) ...
    "launch.created",
    "launch.preflight",
    "launch.preflight-passed",
    # ... a placed backend's run is queued (nothing launched), then placed: stage launching
    "launch.queued",
    # ... stage launching: the backend call and its answer
    "launch.before-backend",
    "launch.backend-returned",
    "launch.handle-stored",
    # auto-recover: a relaunch request is due (its backoff has passed), claimed, its run made
    "recover.claimed",
    "recover.created",
    # stop + terminate: the intent is recorded (stage stopping) before anything is asked
    "stop.before-backend",
    "stop.backend-stopped",
    "stop.verified",
    "stop.drained",
    # finish: the terminal state is recorded (stage wrap-up), then terminate and write-back
    "finish.recorded",
    "finish.terminated",
    "finish.before-write-back",
    "finish.written",
)
LOOP_KILL_POINTS: tuple[str, ...] = (
    # a tick: its hypothesis chosen, then its launch request and count in one commit
    "loop.before-tick",
    "loop.tick-requested",
    # a tick's run written back: its verdict counted
    "loop.counted",
    # the end: the report's name recorded, the report and the plan written, the loop ended
    "loop.report-named",
    "loop.plan-written",
)
"""Every await point of the launch, stop, auto-recover and finish paths, in path order. The
fault-injection tests abandon a supervisor at each one (as SIGKILL would) and check that the
next supervisor completes or undoes what it was doing; a test fails when a `checkpoint` call
names a point missing here."""


class Checkpoints:
    """The named await points of the crash-consistent paths. A no-op in production; the
    fault-injection tests set `hook` to abandon the supervisor at one of them."""

    def __init__(self) -> None:
        self.hook: Callable[[str], Awaitable[None]] | None = None

    async def __call__(self, name: str) -> None:
        if name not in KILL_POINTS and name not in LOOP_KILL_POINTS:
            raise ValueError(f"checkpoint {name!r} is not in KILL_POINTS")
        if self.hook is not None:
            await self.hook(name)


class Tasks:
    """Work beside the poll loop (a launch, a stop, a wrap-up), at most one per name, so the
    same run is never stopped or wrapped up twice at once."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> bool:
        """Start `coroutine` as task `name`; False (and not started) when one runs already."""
        running = self._tasks.get(name)
        if running is not None and not running.done():
            coroutine.close()
            return False
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._forget(name, done))
        return True

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", name, exc_info=task.exception())

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def __bool__(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    def all(self) -> list[asyncio.Task[None]]:
        return list(self._tasks.values())


class PlanCache:
    """Plan files, parsed again only when they change; a broken edit keeps the last good one."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self._plans: dict[str, tuple[float, Plan | None]] = {}

    def get(self, plan_rel: str) -> Plan | None:
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
            plan = cached[1] if cached else None
        self._plans[plan_rel] = (mtime, plan)
        return plan


@dataclass
class Context:
    project: Path
    paths: ProjectPaths
    store: Store
    """The supervisor's writes."""
    reader: StoreReader
    """Reads, on the store's connection (`store.reader`)."""
    config: CockpitConfig
    """The config in force: replaced (never mutated) when a good cockpit.toml is read."""
    backends: dict[str, Backend]
    clock: Clock
    notifier: Notifier
    tasks: Tasks
    plans: PlanCache
    checkpoint: Checkpoints
    wake: asyncio.Event
    artifact_store: S3Artifacts | None = None

    def notify(
        self, run: RunRecord | None, kind: str, message: str, plan: str | None = None
    ) -> None:
        """An event in the store, also announced outside the UI (a loop's end has no run)."""
        self.store.add_event(run.id if run else None, kind, message)
        self.notifier.send(
            {
                "kind": str(kind),
                "run_id": run.id if run else None,
                "hypothesis": run.hypothesis if run else None,
                "plan": run.plan if run else plan,
                "message": message,
                "t": self.clock(),
            }
        )


def artifact_store_for(config: CockpitConfig) -> S3Artifacts | None:
    if config.artifacts.kind == "s3" and config.artifacts.bucket:
        return S3Artifacts(
            config.artifacts.bucket,
            config.artifacts.prefix,
            config.artifacts.endpoint_url,
            config.artifacts.region,
        )
    return None


def describe(exc: BaseException) -> str:
    """`TypeName: message`, or just the type when the message is empty."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
