"""SVG snapshots of the main screen and the watch screen, from a fixed store and clock."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.pilot import Pilot

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.store.supervisor_lock import SupervisorLock
from cockpit.store.writer import Store
from cockpit.ui.app import CockpitApp
from tests.conftest import write_project
from tools.showcase import NOW, record, seed_runs, settled

_record = record  # older tests' name


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


async def store_read(pilot: Pilot[None]) -> None:
    await settled(pilot.app)


def test_main_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, read_only=False)
    assert snap_compare(app, terminal_size=(160, 48), run_before=store_read)


def test_watch_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, read_only=True)
    assert snap_compare(app, terminal_size=(160, 48), run_before=store_read)
