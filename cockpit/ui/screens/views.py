"""The full-screen views the main screen opens over itself — every run (`a`), every GPU (`u`)
— each dismissed with the run to show in the main panes, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cockpit.core.records import RunRecord

if TYPE_CHECKING:
    from cockpit.ui.screens.main import MainScreen


def _opened(screen: MainScreen) -> Callable[[RunRecord | None], None]:
    def opened(run: RunRecord | None) -> None:
        if run is not None:
            screen.open_run(run)

    return opened


def open_runs(screen: MainScreen) -> None:
    from cockpit.ui.screens.compare import CompareScreen
    from cockpit.ui.screens.runs_view import RunsView

    def compare(runs: list[RunRecord]) -> None:
        screen.app.push_screen(CompareScreen(screen.paths, runs))

    view = RunsView(screen.paths, screen.config.metrics.val_key, compare, screen.clock)
    screen.app.push_screen(view, _opened(screen))


def open_gpus(screen: MainScreen) -> None:
    from cockpit.ui.screens.gpu_view import GpuView

    screen.app.push_screen(GpuView(screen.paths, screen.config, screen.clock), _opened(screen))
