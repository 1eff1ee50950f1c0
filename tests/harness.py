"""The in-process supervisor harness the supervision tests share: a project on the local
backend with the stand-in trainer, a supervisor with a clock the test can move, a client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import COMMANDS
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import PLAN, async_wait_for, write_project


class FakeClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Harness:
    def __init__(self, project: Path, clock: FakeClock) -> None:
        self.project = project
        self.clock = clock
        self.supervisor = Supervisor(project, load_config(project), clock=clock)
        self.client = StoreReader(ProjectPaths(project).db)
        self.task: asyncio.Task[None] | None = None

    def request(self, kind: str, **payload: object) -> str:
        return self.client.submit_request(COMMANDS[kind](**payload), "test")  # type: ignore[arg-type]

    async def answer(self, request_id: str) -> tuple[str, str, str | None]:
        def done() -> object:
            found = self.client.request(request_id)
            return found if found and found.status not in ("pending", "running") else None

        found = await async_wait_for(done, what=f"request {request_id}")
        return found.status, found.result, found.run_id  # type: ignore[union-attr]

    async def launch(self, hypothesis: str, **payload: object) -> str:
        status, result, run_id = await self.answer(
            self.request("launch", hypothesis=hypothesis, **payload)
        )
        assert status == "done", result
        assert run_id is not None
        return run_id

    async def ended(self, run_id: str) -> RunRecord:
        def finished() -> object:
            run = self.client.run(run_id)
            return run if run and not run.active else None

        return await async_wait_for(finished, what=f"{run_id} to end")  # type: ignore[return-value]

    async def result_written(self, run_id: str) -> None:
        await async_wait_for(
            lambda: any(e.kind == "result" for e in self.client.events(run_id)),
            what=f"the result of {run_id}",
        )


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator:  # type: ignore[type-arg]
    harnesses: list[Harness] = []

    def factory(extra_toml: str = "", plan: str = PLAN, git: bool = False) -> Harness:
        project = write_project(tmp_path / f"proj{len(harnesses)}", extra_toml)
        (project / "hypotheses.md").write_text(plan, encoding="utf-8")
        if git:
            (project / ".gitignore").write_text(".cockpit/\n")
            identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
            for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "x"]):
                subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
        harness = Harness(project, FakeClock())
        harness.task = asyncio.create_task(harness.supervisor.run_forever(idle_exit_s=3600))
        harnesses.append(harness)
        return harness

    yield factory
    for harness in harnesses:
        for run in harness.client.active_runs():
            if run.handle:
                from backends.base import RunHandle

                await harness.supervisor.backends[run.backend].stop(
                    RunHandle.from_json(run.handle), 1
                )
        assert harness.task is not None
        harness.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await harness.task


async def use_command(h: Harness, command: str) -> None:
    """Make `command` the project's training command and wait until the supervisor has
    re-read cockpit.toml (it does within a poll)."""
    config = h.project / "cockpit.toml"
    lines = config.read_text().splitlines()
    assert lines[0].startswith("command = ")
    lines[0] = f"command = {json.dumps(command)}"  # a JSON string is a TOML basic string
    config.write_text("\n".join(lines) + "\n")
    await async_wait_for(
        lambda: any(e.kind == "config" for e in h.client.events(None)), what="the reload"
    )
