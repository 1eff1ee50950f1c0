"""The Textual application: one App, two modes.

`interactive` pushes the `ControlScreen` (view + launch/stop/relaunch); `watch` pushes the plain
`MainScreen` over a read-only store. Everything else lives in the screens and widgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from cockpit.config import CockpitConfig
from cockpit.screens.control import ControlScreen
from cockpit.screens.main import MainScreen
from themes import THEMES


class CockpitApp(App[None]):
    CSS_PATH = "cockpit.tcss"
    TITLE = "cockpit"
    BINDINGS = [
        Binding("q", "quit", "quit", id="quit", tooltip="Quit this window (runs keep going)"),
    ]

    def __init__(
        self,
        project: Path,
        config: CockpitConfig,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        autostart_supervisor: bool = True,
    ) -> None:
        super().__init__()
        self.autostart_supervisor = autostart_supervisor
        self.project = project
        self.config = config
        self.read_only = read_only
        self.clock = clock
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = config.theme if config.theme in self.available_themes else "cockpit-dark"
        self.sub_title = "watch (read-only)" if read_only else str(project)

    def on_mount(self) -> None:
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))
        if self.read_only:
            self.push_screen(MainScreen(self.project, self.config, True, self.clock))
        else:
            self.push_screen(
                ControlScreen(
                    self.project, self.config, False, self.clock, self.autostart_supervisor
                )
            )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            yield from screen.palette_commands()
