"""A fixed, realistic project state for screenshots: the docs' pictures and the snapshot tests
render the same screens from it, so the documentation never shows an old UI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.core.paths import ProjectPaths
from cockpit.core.records import RunRecord
from cockpit.store.writer import Store

if TYPE_CHECKING:
    from textual.app import App

NOW = 1_790_000_000.0


def record(run_id: str, hypothesis: str, state: str, created: float, **extra: object) -> RunRecord:
    values: dict[str, object] = {
        "id": run_id,
        "hypothesis": hypothesis,
        "plan": "hypotheses.md",
        "backend": "local",
        "commit": "3f9c2e1d0b7a",
        "spec": {},
        "handle": None,
        "state": state,
        "request_id": None,
        "created_at": created,
        "started_at": created + 1,
        "ended_at": None,
        "exit_code": None,
        "cost_per_hour": 3.6,
        "cost_so_far": 0.0,
        "uptime_s": 0.0,
        "detail": "",
    }
    values.update(extra)
    return RunRecord(**values)  # type: ignore[arg-type]


def seed_runs(project: Path, store: Store, running: str = "H5") -> None:
    """Two runs: H1 succeeded an hour ago, `running` (H5) running for ten minutes."""
    paths = ProjectPaths(project)
    runs = [
        record(
            "h1-0a0a0a",
            "H1",
            "succeeded",
            NOW - 3600,
            ended_at=NOW - 3000,
            exit_code=0,
            cost_so_far=0.6,
            uptime_s=600,
            detail="exit 0; artifacts: best.pt, metrics.json",
        ),
        record(
            f"{running.lower()}-5b5b5b",
            running,
            "running",
            NOW - 600,
            cost_so_far=0.6,
            uptime_s=599,
            detail="training started",
        ),
    ]
    for run in runs:
        store.create_run(run)
        mirror = paths.mirror(run.id)
        mirror.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"step": s, "loss": round(2.0 / (s + 1) ** 0.5, 4)}) for s in range(40)]
        (mirror / "train.log").write_text("\n".join(lines) + "\n")
        (mirror / "onstart.log").write_text(f"[cockpit] run {run.id} on local\nsetting up\n")
        (mirror / "gpu.log").write_text("0, NVIDIA H100 80GB HBM3, 97, 71234, 81559, 64, 612.41\n")
        samples: list[tuple[float, float | None, str, float]] = []
        for s in range(40):
            samples.append((NOW, float(s), "step", float(s)))
            samples.append((NOW, float(s), "loss", round(2.0 / (s + 1) ** 0.5, 4)))
            if s % 10 == 9:
                samples.append((NOW, float(s), "val_loss", 1.5 - s / 80))
            samples.append((NOW, None, "gpu_util", float(60 + (s * 7) % 40)))
            samples.append((NOW, None, "gpu_mem", 87.3))
        store.add_metrics(run.id, samples)
    store.conn.execute(
        "INSERT INTO heartbeat (id, pid, host, started_at, t) VALUES (1, 4242, 'lab', ?, ?)",
        (NOW - 3600, NOW - 1),
    )


async def settled(app: App[None]) -> None:
    """Wait until the main screen shows everything about its run (the store is read in a
    thread: the first frames may come before it)."""
    from cockpit.ui.screens.main import MainScreen

    screen = app.screen
    assert isinstance(screen, MainScreen)
    await asyncio.wait_for(screen.settled.wait(), 30)


async def render(project: Path, read_only: bool, size: tuple[int, int] = (160, 48)) -> str:
    """The cockpit (or watch) screen of `project` as SVG, at the showcase's fixed clock."""
    from cockpit.core.config import load_config
    from cockpit.ui.app import CockpitApp

    app = CockpitApp(
        project, load_config(project), read_only=read_only, clock=lambda: NOW,
        autostart_supervisor=False,
    )  # fmt: skip
    async with app.run_test(size=size) as pilot:
        await settled(app)
        await pilot.pause()
        return app.export_screenshot(title="cockpit watch" if read_only else "cockpit")


async def screenshots() -> dict[str, str]:
    """The docs' pictures, from the demo project and the showcase runs."""
    import os
    import tempfile
    import time

    from cockpit.cli.demo import create_demo
    from cockpit.store.supervisor_lock import SupervisorLock

    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_CONFIG_HOME"] = folder  # no user theme or remembered choice
        project = Path(folder) / "demo"
        create_demo(project)
        store = Store(ProjectPaths(project).db)
        seed_runs(project, store, running="H2")
        store.close()
        lock = SupervisorLock(ProjectPaths(project).lock)  # "a supervisor runs": healthy
        lock.acquire()
        try:
            return {
                "images/cockpit.svg": await render(project, read_only=False),
                "images/watch.svg": await render(project, read_only=True),
            }
        finally:
            lock.release()
