"""A fake `Backend` whose every call can be held at a gate, over a fake cloud that counts what
it created and ended.

The cloud (`FakeCloud`) is plain data shared by every supervisor of a test, as a real provider
outlives the processes that talk to it: resources, each run's own log bytes, what was created
and terminated. A `FakeBackend` is one supervisor's client of it. A run's behaviour comes from
`behaviour[hypothesis]`: `steps=N exit=C`, `forever` (until stopped), `killed-first` (the first
attempt of the hypothesis dies of SIGKILL, later ones succeed); `steps=3` by default. A run
advances one step per `observe` while `advancing` is set; its billed uptime is whatever the
test sets in `uptime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import (
    Backend,
    LogSource,
    Observation,
    RemoteResource,
    RunHandle,
    RunPhase,
    RunSpec,
)
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor


@dataclass
class Resource:
    run_id: str
    hypothesis: str
    steps: int | None
    """Steps before it exits; None runs until stopped."""
    exit_code: int
    logs: dict[LogSource, bytearray] = field(
        default_factory=lambda: {source: bytearray() for source in LogSource}
    )
    step: int = 0
    alive: bool = True
    terminated: bool = False
    code: int | None = None


class FakeCloud:
    def __init__(self, rate_per_hour: float = 3.6, behaviour: dict[str, str] | None = None) -> None:
        self.behaviour = behaviour or {}
        self.lock = threading.Lock()
        self.resources: dict[str, Resource] = {}
        self.created: list[str] = []
        self.terminated: list[str] = []
        self.uptime: dict[str, float] = {}
        """Billed seconds of each run, as the test sets them."""
        self.rate_per_hour = rate_per_hour
        self.advancing = True
        self.calls: dict[str, int] = {}

    def running(self) -> list[str]:
        """Run ids of resources not terminated (still billing)."""
        with self.lock:
            return [r.run_id for r in self.resources.values() if not r.terminated]

    def create(self, spec: RunSpec) -> Resource:
        with self.lock:
            existing = self.resources.get(spec.run_id)
            if existing is not None:
                return existing
            words = dict(
                part.split("=", 1) if "=" in part else (part, "")
                for part in self.behaviour.get(spec.hypothesis, "steps=3").split()
            )
            attempts = sum(1 for r in self.resources.values() if r.hypothesis == spec.hypothesis)
            if "forever" in words:
                steps, code = None, 0
            elif "killed-first" in words:
                steps, code = 3, (137 if attempts == 0 else 0)
            else:
                steps, code = int(words.get("steps", "3")), int(words.get("exit", "0"))
            resource = Resource(spec.run_id, spec.hypothesis, steps, code)
            resource.logs[LogSource.ONSTART] += f"[fake] setting up {spec.run_id}\n".encode()
            self.resources[spec.run_id] = resource
            self.created.append(spec.run_id)
            return resource

    def advance(self, resource: Resource) -> None:
        with self.lock:
            if not resource.alive or not self.advancing:
                return
            if resource.steps is not None and resource.step >= resource.steps:
                resource.alive = False
                resource.code = resource.exit_code
                return
            loss = 1.0 / (resource.step + 1)
            line = json.dumps({"step": resource.step, "loss": loss, "val_loss": 0.5})
            resource.logs[LogSource.TRAIN] += (line + "\n").encode()
            resource.logs[LogSource.GPU] += b"0, H100, 97, 1000, 80000, 60, 300\n"
            resource.step += 1

    def terminate(self, run_id: str) -> None:
        with self.lock:
            resource = self.resources.get(run_id)
            if resource is None or resource.terminated:
                return
            if resource.alive:
                resource.alive = False
                resource.code = -15
            resource.terminated = True
            self.terminated.append(run_id)

    def count(self, call: str) -> None:
        with self.lock:
            self.calls[call] = self.calls.get(call, 0) + 1


class FakeBackend(Backend):
    kind = "fake"
    bills = True

    def __init__(self, name: str, cloud: FakeCloud) -> None:
        super().__init__(name)
        self.cloud = cloud
        self.gates: dict[str, asyncio.Event] = {}
        """Calls held until their gate is set: `launch`, `observe`, `stop`, `fetch`."""
        self.waiting: dict[str, asyncio.Event] = {}
        """Set when a call reaches its closed gate (the test knows it is held there)."""
        self.fail: dict[str, Exception] = {}
        """Calls that raise this instead of answering."""

    def hold(self, call: str) -> None:
        self.gates[call] = asyncio.Event()
        self.waiting[call] = asyncio.Event()

    def release(self, call: str) -> None:
        self.gates.pop(call).set()

    async def _gate(self, call: str) -> None:
        self.cloud.count(call)
        gate = self.gates.get(call)
        if gate is not None:
            self.waiting[call].set()
            await gate.wait()
        failure = self.fail.get(call)
        if failure is not None:
            raise failure

    def run_dir(self, run_id: str) -> str:
        return f"/fake/{run_id}"

    def _handle(self, run_id: str) -> RunHandle:
        return RunHandle(run_id, self.name, self.run_dir(run_id), {"resource": run_id})

    async def launch(self, spec: RunSpec) -> RunHandle:
        await self._gate("launch")
        self.cloud.create(spec)
        return self._handle(spec.run_id)

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        await self._gate("observe")
        found = {}
        for handle in handles:
            resource = self.cloud.resources.get(handle.run_id)
            if resource is None:
                found[handle.run_id] = Observation(RunPhase.EXITED, failure="infra")
                continue
            self.cloud.advance(resource)
            uptime = self.cloud.uptime.get(handle.run_id, 0.0)
            rate = 0.0 if resource.terminated else self.cloud.rate_per_hour
            phase = RunPhase.TRAINING if resource.alive else RunPhase.EXITED
            found[handle.run_id] = Observation(phase, resource.code, uptime, rate)
        return found

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        while True:
            resource = self.cloud.resources.get(handle.run_id)
            if resource is None:
                return
            alive = resource.alive
            data = bytes(resource.logs[source][offset:])
            if data:
                offset += len(data)
                yield data
            elif not alive:
                return
            else:
                await asyncio.sleep(0.01)  # the fake's own "network": a poll of its data

    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        await self._gate("stop")
        self.cloud.terminate(handle.run_id)

    async def list_billed(self) -> list[RemoteResource]:
        return [RemoteResource(self.name, run_id, run_id, 0.0) for run_id in self.cloud.running()]

    async def fetch_artifacts(
        self, handle: RunHandle, markers: Sequence[str], dest: Path
    ) -> list[Path]:
        await self._gate("fetch")
        resource = self.cloud.resources.get(handle.run_id)
        if resource is None or resource.code != 0:
            return []
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for marker in markers:
            path = dest / Path(marker).name
            path.write_text(json.dumps({"val_loss": 0.5}) if marker.endswith(".json") else "pt")
            written.append(path)
        return written


@contextlib.asynccontextmanager
async def fake_supervisor(
    project: Path,
    plan: str,
    config: str,
    cloud: FakeCloud,
    backend: type[FakeBackend] = FakeBackend,
) -> AsyncIterator[tuple[Supervisor, StoreReader]]:
    """A project with `plan` and `config` whose backends are `backend`s over `cloud`, and an
    in-process supervisor running on it (cancelled at the end); a client store for the test."""
    project.mkdir(parents=True)
    (project / "hypotheses.md").write_text(plan)
    (project / "cockpit.toml").write_text(config)
    supervisor = Supervisor(
        project, load_config(project),
        backend_factory=lambda name, settings, paths, clock: backend(name, cloud),
    )  # fmt: skip
    async with supervised(supervisor, project) as running:
        yield running


@contextlib.asynccontextmanager
async def supervised(
    supervisor: Supervisor, project: Path
) -> AsyncIterator[tuple[Supervisor, StoreReader]]:
    """`supervisor` running in this event loop (cancelled at the end), and a client store."""
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    try:
        yield supervisor, StoreReader(ProjectPaths(project).db)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
