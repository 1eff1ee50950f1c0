"""The log pumps of the active runs: one task per run and source, mirroring the backend's
stream into `.cockpit/runs/<id>/<source>.log`, restarted with backoff when a stream breaks.

Also what the supervisor holds in memory for each run it watches (`Tracked`): its handle, its
pumps, whether a stop is under way, the artifact check, the progress at each health check.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from dataclasses import dataclass, field

from backends.base import LogSource, RunHandle, RunPhase
from cockpit.core import health
from cockpit.core.logparse import MetricParser
from cockpit.core.protocol import RunWarning
from cockpit.supervisor.context import Context, describe, log
from cockpit.supervisor.health_facts import Progress
from cockpit.supervisor.log_pump import LogPump


@dataclass
class Tracked:
    """What the supervisor holds in memory for an active run."""

    handle: RunHandle
    pumps: dict[LogSource, asyncio.Task[None]] = field(default_factory=dict)
    stopping: bool = False
    artifacts: health.ArtifactCheck | None = None
    last_cost_sample: float = 0.0
    last_seen: float = 0.0
    """When the backend last answered for the run (the clock's time)."""
    progress: Progress = field(default_factory=Progress)
    phase: RunPhase | None = None
    """What the backend said last (an exited run may still be draining its logs)."""
    waiting: str = ""
    """What the backend last said the run waits for (`Observation.waiting`)."""

    @property
    def drained(self) -> bool:
        """Every source was mirrored to its end (the streams finished)."""
        return all(task.done() for task in self.pumps.values())


class Pumps:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tracked: dict[str, Tracked] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        """Pumps of ended runs still delivering the end of their streams."""
        self.parser = MetricParser.from_config(ctx.config.metrics.patterns)
        self.disk_full: set[LogPump] = set()
        """Pumps waiting for room on the disk."""

    def configure(self) -> None:
        """The config changed: new pumps parse with its metric patterns."""
        self.parser = MetricParser.from_config(self.ctx.config.metrics.patterns)

    def get(self, run_id: str) -> Tracked | None:
        return self.tracked.get(run_id)

    def track(self, run_id: str, handle: RunHandle) -> Tracked:
        """The run's tracked state, its three pumps started if they are not running."""
        tracked = self.tracked.get(run_id)
        if tracked is None:
            tracked = self.tracked[run_id] = Tracked(handle)
        for source in LogSource:
            if source not in tracked.pumps:
                tracked.pumps[source] = asyncio.get_running_loop().create_task(
                    self._run(self.pump(run_id, handle, source)),
                    name=f"pump:{run_id}:{source.value}",
                )
        return tracked

    def pump(self, run_id: str, handle: RunHandle, source: LogSource) -> LogPump:
        ctx = self.ctx
        metrics = ctx.config.metrics
        return LogPump(
            ctx.store, ctx.backends[handle.backend], handle, source,
            ctx.paths.mirror_log(run_id, source.value), self.parser, metrics.progress_key,
            ctx.clock, loss_key=metrics.loss_key,
            on_no_gpu=(lambda: self._no_gpu(run_id)) if source is LogSource.GPU else None,
        )  # fmt: skip

    def _no_gpu(self, run_id: str) -> None:
        run = self.ctx.reader.run(run_id)
        if run is not None and RunWarning.GPU_UNAVAILABLE not in run.warnings:
            warnings = (*run.warnings, RunWarning.GPU_UNAVAILABLE)
            self.ctx.store.update_run(run_id, warnings=warnings)

    async def _run(self, pump: LogPump) -> None:
        """Run the pump until its stream ends, again (with backoff) after any break. A full
        disk stops it where it is: the mirror's size is the offset it resumes from, so no byte
        is lost or repeated once there is room again."""
        delay = 0.5
        blocked_at: int | None = None  # the mirror's size when the disk filled
        while True:
            try:
                if blocked_at is not None:
                    # Writing this is the probe: it needs the disk the pump needs.
                    self.ctx.store.add_event(
                        pump.run_id, "disk",
                        f"{pump.source.value} mirror resumes at byte {blocked_at}: the disk "
                        "has room again; nothing was lost",
                    )  # fmt: skip
                    blocked_at, delay = None, 0.5
                    self.disk_full.discard(pump)
                await pump.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if disk_full(exc):
                    if blocked_at is None:
                        blocked_at = pump.mirrored_bytes()
                        self._disk_filled(pump, blocked_at, exc)
                else:
                    message = f"{pump.source.value} stream interrupted: {describe(exc)}"
                    log.warning("%s: %s", pump.run_id, message)
                    with contextlib.suppress(Exception):  # the store may be what broke
                        self.ctx.store.add_event(pump.run_id, "stream", message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _disk_filled(self, pump: LogPump, at: int, exc: BaseException) -> None:
        """Say so once, by means that need no disk: the notifier (a command, tmux) and the
        log on stderr; the UIs see the free space themselves."""
        first = not self.disk_full
        self.disk_full.add(pump)
        log.error("%s: %s mirror stopped at byte %d: %s", pump.run_id, pump.source.value, at, exc)
        if first:
            self.ctx.notifier.send(
                {
                    "kind": "disk-full",
                    "run_id": pump.run_id,
                    "message": f"disk full under {self.ctx.paths.state}: log mirroring waits "
                    f"({describe(exc)}); it resumes where it stopped when there is room",
                    "t": self.ctx.clock(),
                }
            )

    async def drain(self, run_id: str, timeout_s: float = 30.0) -> None:
        """Wait (bounded) for the run's streams to deliver their last bytes."""
        tracked = self.tracked.get(run_id)
        if tracked is not None and tracked.pumps:
            await asyncio.wait(list(tracked.pumps.values()), timeout=timeout_s)

    def forget(self, run_id: str, cancel: bool = False) -> None:
        """Stop watching a run. Its pumps are cancelled with `cancel` (the run left the store);
        otherwise they deliver what is left of their streams (a run that just ended)."""
        tracked = self.tracked.pop(run_id, None)
        if tracked is None:
            return
        for task in tracked.pumps.values():
            if cancel:
                task.cancel()
            elif not task.done():
                self._finishing.add(task)
                task.add_done_callback(self._finishing.discard)

    def flowing(self) -> bool:
        """Any stream still delivering (finished pumps do not count)."""
        return any(not task.done() for task in self.all_tasks())

    def all_tasks(self) -> list[asyncio.Task[None]]:
        tasks = [task for tracked in self.tracked.values() for task in tracked.pumps.values()]
        return tasks + list(self._finishing)


def disk_full(exc: BaseException) -> bool:
    """The disk (or the user's quota) is full: a file write or a store commit says so."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "disk is full" in str(exc)
        )
    return False
