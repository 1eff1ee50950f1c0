"""SVG snapshots of the main screen and the watch screen, from a fixed store and clock."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cockpit.app import CockpitApp
from cockpit.config import load_config
from cockpit.lock import SupervisorLock
from cockpit.runtime import ProjectPaths
from cockpit.store import RunRecord, Store
from tests.conftest import write_project

NOW = 1_790_000_000.0


def _record(run_id: str, hypothesis: str, state: str, created: float, **extra: object) -> RunRecord:
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


def seed_runs(project: Path, store: Store) -> None:
    """Two runs: H1 succeeded an hour ago, H5 running for ten minutes."""
    paths = ProjectPaths(project)
    runs = [
        _record(
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
        _record(
            "h5-5b5b5b",
            "H5",
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
        samples = []
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


def make_app(tmp_path: Path, read_only: bool) -> CockpitApp:
    os.environ["TZ"] = "UTC"  # "today" and times on screen must not depend on the machine
    time.tzset()
    project = write_project(tmp_path / "proj")
    store = Store(ProjectPaths(project).db)
    seed_runs(project, store)
    store.close()
    app = CockpitApp(
        project,
        load_config(project),
        read_only=read_only,
        clock=lambda: NOW,
        autostart_supervisor=False,
    )
    # A supervisor "runs" (this process holds the lock) so the screens show a healthy project.
    lock = SupervisorLock(ProjectPaths(project).lock)
    assert lock.acquire()
    app.supervisor_lock_for_test = lock  # type: ignore[attr-defined]  # kept open with the app
    return app


def test_main_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(tmp_path, read_only=False), terminal_size=(160, 48))


def test_watch_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(tmp_path, read_only=True), terminal_size=(160, 48))
