"""`cockpit watch`'s app, headless in the benchmark's process, on a flood project's run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.support.harness import FloodProject
from cockpit.core.config import load_config
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.main import MainScreen


@asynccontextmanager
async def watching(project: FloodProject) -> AsyncIterator[tuple[CockpitApp, MainScreen]]:
    app = CockpitApp(
        project.root, load_config(project.root), read_only=True, autostart_supervisor=False
    )
    async with app.run_test(headless=True, size=(160, 48)):
        screen = app.screen
        assert isinstance(screen, MainScreen)
        while screen.shown is None or screen.shown.id != project.run_id:
            await asyncio.sleep(0.01)
        yield app, screen
