"""The local backend: runs as process groups on this machine, logs straight to files.

A run is the `sh` wrapper of `backends.wrapper`, started in its own session; it writes only to
files, so the run keeps going and keeps logging when the supervisor dies, and a new supervisor
re-attaches by pid *and* start time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from backends import processes as procs
from backends.base import (
    Backend,
    LogSource,
    Observation,
    RemoteResource,
    RunHandle,
    RunPhase,
    RunSpec,
    SourceReset,
    run_phase,
    streams_end,
)
from backends.gpu import NvmlSampler, visible
from backends.gpu_inventory import GpuInfo
from backends.wrapper import WRAPPER, setup_mark

READ_CHUNK = 1024 * 1024
"""At most this many bytes per read, so a burst never floods the consumer at once."""
TAIL_INTERVAL_S = 0.1
"""How soon a tail looks again for new bytes after it found some."""
LIVENESS_TTL_S = 0.5
"""How long a look that found a run still running is reused by its other streams."""
QUIET_INTERVAL_S = 1.0
"""How seldom it looks at most while a log is quiet: the wait doubles from `TAIL_INTERVAL_S`
up to this (a quiet run costs the supervisor a few system calls a second, not thirty)."""


class LocalBackend(Backend):
    """Runs on this machine. `runs_root/<run_id>/run` is each run's `COCKPIT_RUN_DIR`."""

    kind = "local"
    places_runs = True

    def __init__(
        self,
        name: str,
        runs_root: Path,
        cost_per_hour: float = 0.0,
        gpu_interval_s: float = 5.0,
        sampler_factory: Callable[[], NvmlSampler] = NvmlSampler,
        clock: Callable[[], float] = time.time,
        setup_once_per_commit: bool = False,
    ) -> None:
        super().__init__(name)
        self.setup_once_per_commit = setup_once_per_commit
        self.runs_root = runs_root
        self.cost_per_hour = cost_per_hour
        self.gpu_interval_s = gpu_interval_s
        self._sampler_factory = sampler_factory
        self.clock = clock
        """Wall clock for billed time (tests pass a fake one to reach a cost cap)."""
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._running_until: dict[str, float] = {}
        self._ended: dict[str, float] = {}

    def run_dir(self, run_id: str) -> str:
        return str(self._run_path(run_id))

    def _run_path(self, run_id: str) -> Path:
        return self.runs_root / run_id / "run"

    async def launch(self, spec: RunSpec) -> RunHandle:
        run_dir = self._run_path(spec.run_id)
        existing = self._handle_from_disk(spec.run_id)
        if existing is not None:
            return existing
        run_dir.mkdir(parents=True, exist_ok=True)
        if spec.env.get("COCKPIT_GPUS"):  # placed: its gpu source samples its own GPUs
            (run_dir / "gpus").write_text(spec.env["COCKPIT_GPUS"])
        env = {
            **os.environ,
            **spec.env,
            "COCKPIT_RUN_ID": spec.run_id,
            "COCKPIT_RUN_DIR": str(run_dir),
            "COCKPIT_WORKDIR": spec.workdir,
            "PYTHONUNBUFFERED": "1",
            "_COCKPIT_SETUP": spec.setup or "",
            "_COCKPIT_SETUP_MARK": setup_mark(
                str(self.runs_root.parent / "setup-passed"), spec.commit, spec.setup or ""
            )
            if self.setup_once_per_commit
            else "",
            "_COCKPIT_COMMAND": spec.command,
        }
        header = f"[cockpit] run {spec.run_id} on {self.name}, commit {spec.commit}\n"
        (run_dir / "onstart.log").write_text(header)
        (run_dir / "train.log").touch()
        with open(run_dir / "wrapper.log", "ab") as wrapper_log:
            child = subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=wrapper_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._children[spec.run_id] = child
        started = procs.start_time(child.pid)
        t0 = self.clock()
        (run_dir / "pid").write_text(f"{child.pid} {started or 0} {t0:.3f}\n")
        return self._handle(spec.run_id, child.pid, started, t0)

    def _handle(self, run_id: str, pid: int, started: int | None, t0: float) -> RunHandle:
        return RunHandle(
            run_id=run_id,
            backend=self.name,
            run_dir=self.run_dir(run_id),
            data={"pid": pid, "pgid": pid, "start_ticks": started, "started_at": t0},
        )

    def _handle_from_disk(self, run_id: str) -> RunHandle | None:
        try:
            pid_s, ticks_s, t0_s = (self._run_path(run_id) / "pid").read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        ticks = int(ticks_s) or None
        return self._handle(run_id, int(pid_s), ticks, float(t0_s))

    def _alive(self, handle: RunHandle) -> bool:
        child = self._children.get(handle.run_id)
        if child is not None and child.poll() is not None:
            return False
        return procs.is_alive(int(handle.data["pid"]), handle.data.get("start_ticks"))

    def _exit_code(self, handle: RunHandle) -> tuple[int | None, float | None]:
        """The recorded exit code and when; from `exit_code.tmp` when the wrapper was stopped
        between writing it and renaming it."""
        for name in ("exit_code", "exit_code.tmp"):
            path = Path(handle.run_dir) / name
            try:
                return int(path.read_text().strip()), path.stat().st_mtime
            except (FileNotFoundError, ValueError):
                continue
        return None, None

    def _finished(self, handle: RunHandle) -> bool:
        """The run has ended: its wrapper wrote the exit code (the command returned; a worker
        it orphaned does not hold the end back), or the wrapper was killed *and* its whole
        process group is gone (a trainer in its SIGTERM handler outlives the wrapper and still
        writes its last words).

        "Still running" is remembered for `LIVENESS_TTL_S`, so the three streams of a quiet
        run share one look; "ended" is never remembered stale."""
        now = time.monotonic()
        if self._running_until.get(handle.run_id, 0.0) > now:
            return False
        exited = os.path.exists(os.path.join(handle.run_dir, "exit_code"))
        alive = exited or self._alive(handle)  # (not asked once the command returned)
        group = alive or procs.group_alive(int(handle.data["pgid"]))
        finished = streams_end(exited, alive, group)
        if finished:
            self._running_until.pop(handle.run_id, None)
        else:
            self._running_until[handle.run_id] = now + LIVENESS_TTL_S
        return finished

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        now = self.clock()
        result = {}
        for handle in handles:
            started_at = float(handle.data.get("started_at", now))
            code, exit_mtime = self._exit_code(handle)
            alive = self._alive(handle)
            training = alive and (Path(handle.run_dir) / "training").exists()
            phase = run_phase(code, alive, training)
            if phase is RunPhase.EXITED:
                # Billing ends when the process did: the exit file's time on the real clock,
                # else the first time this backend saw the run gone.
                if handle.run_id not in self._ended:
                    real_clock = self.clock is time.time
                    self._ended[handle.run_id] = exit_mtime if exit_mtime and real_clock else now
                uptime = self._ended[handle.run_id] - started_at
            else:
                uptime = now - started_at
            failure, detail = None, ""
            if phase is RunPhase.EXITED and code is None and self._exit_code_lost(handle):
                failure = "unknown"  # never `killed`: that would be relaunched
                detail = "the run's exit code could not be read (empty or unreadable: disk full?)"
            result[handle.run_id] = Observation(
                phase=phase,
                exit_code=code,
                uptime_s=max(0.0, uptime),
                cost_per_hour=self.cost_per_hour,
                failure=failure,
                detail=detail,
                setup_done=(Path(handle.run_dir) / "training").exists(),
            )
        return result

    @staticmethod
    def _exit_code_lost(handle: RunHandle) -> bool:
        """The wrapper began to record an exit code but no number can be read: its files
        exist, empty or garbled (a full disk), rather than being absent (a killed wrapper)."""
        return any(
            os.path.exists(os.path.join(handle.run_dir, name))
            for name in ("exit_code", "exit_code.tmp")
        )

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        if source is LogSource.GPU:
            async for chunk in self._gpu_samples(handle, offset):
                yield chunk
            return
        path = os.path.join(handle.run_dir, f"{source.value}.log")
        position = offset
        wait = TAIL_INTERVAL_S
        fd: int | None = None  # the file being followed, kept open across a rename
        try:
            while True:
                finished = self._finished(handle)  # before reading: no byte is left behind
                if fd is None:
                    with contextlib.suppress(FileNotFoundError):
                        fd = os.open(path, os.O_RDONLY)
                if fd is not None:
                    size = os.fstat(fd).st_size
                    if size < position:
                        raise SourceReset(f"{source.value}.log was truncated at byte {position}")
                    if size > position:
                        chunk = await asyncio.to_thread(os.pread, fd, READ_CHUNK, position)
                        position += len(chunk)
                        wait = TAIL_INTERVAL_S
                        yield chunk
                        continue
                    if _inode(path) not in (None, os.fstat(fd).st_ino):  # read to its end first
                        raise SourceReset(f"{source.value}.log was replaced by a new file")
                if finished:
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, QUIET_INTERVAL_S)
        finally:
            if fd is not None:
                os.close(fd)

    async def _gpu_samples(self, handle: RunHandle, offset: int) -> AsyncIterator[bytes]:
        sampler = self._sampler_factory()
        try:
            if not await asyncio.to_thread(sampler.open):
                if offset == 0:
                    yield f"{sampler.error}\n".encode()
                return  # no GPU now means none later: nothing more will ever come
            gpus = self._run_path(handle.run_id) / "gpus"
            only = visible(gpus.read_text()) if gpus.exists() else None
            while not self._finished(handle):
                lines = await asyncio.to_thread(sampler.sample_lines, only)
                yield "".join(f"{line}\n" for line in lines).encode()
                if await self._finished_within(handle, self.gpu_interval_s, QUIET_INTERVAL_S):
                    return
        finally:
            sampler.close()

    async def _finished_within(
        self, handle: RunHandle, seconds: float, every_s: float = TAIL_INTERVAL_S
    ) -> bool:
        """Wait up to `seconds`, returning True soon (within `every_s`) after the run ended."""
        deadline = time.monotonic() + seconds
        while not self._finished(handle):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(every_s, left))
        return True

    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        pgid = int(handle.data["pgid"])
        if not self._alive(handle) and not procs.group_alive(pgid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            self._reap(handle)
            if not procs.group_alive(pgid):
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        for _ in range(100):
            self._reap(handle)
            if not procs.group_alive(pgid):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"process group {pgid} of run {handle.run_id} survived SIGKILL")

    def _reap(self, handle: RunHandle) -> None:
        child = self._children.get(handle.run_id)
        if child is not None:
            child.poll()
        else:
            procs.reap(int(handle.data["pid"]))

    async def gpu_inventory(self) -> list[GpuInfo]:
        """This machine's GPUs through NVML (none without an NVIDIA driver)."""

        def read() -> list[GpuInfo]:
            sampler = self._sampler_factory()
            if not sampler.open():
                return []
            try:
                return sampler.inventory()
            finally:
                sampler.close()

        return await asyncio.to_thread(read)

    async def list_billed(self) -> list[RemoteResource]:
        found: list[RemoteResource] = []
        now = self.clock()
        if not self.runs_root.is_dir():
            return found
        for run_dir in sorted(self.runs_root.iterdir()):
            handle = self._handle_from_disk(run_dir.name)
            if handle is None or not self._alive(handle):
                continue
            found.append(
                RemoteResource(
                    backend=self.name,
                    resource_id=f"pid {handle.data['pid']}",
                    run_id=handle.run_id,
                    age_s=now - float(handle.data["started_at"]),
                    cost_per_hour=self.cost_per_hour,
                )
            )
        return found

    async def fetch_artifacts(
        self, handle: RunHandle, markers: Sequence[str], dest: Path
    ) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for marker in markers:
            source = Path(marker)
            if not source.is_absolute():
                source = Path(handle.run_dir) / source
            if source.is_file():
                target = dest / source.name
                await asyncio.to_thread(shutil.copy2, source, target)
                copied.append(target)
        return copied


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
