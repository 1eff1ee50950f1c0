"""The Textual application: one App, two modes.

`interactive` shows the `MainScreen` with `Controls` (launch/stop/relaunch) around its content;
`watch` shows the plain `MainScreen` over a read-only store. Everything else lives in the
screens and widgets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import Notify
from textual.screen import Screen
from textual.theme import Theme

from cockpit.core.config import CockpitConfig
from cockpit.ui import preferences
from cockpit.ui.notices import Notices
from cockpit.ui.screens.main import MainScreen
from themes import COCKPIT_VARIABLES, THEMES, load_user_themes


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
        self.notices = Notices()
        """Every toast said, and which of them show (one per event, a few at most)."""
        self.project = project
        self.config = config
        self.read_only = read_only
        self.clock = clock
        for theme in THEMES.values():
            self.register_theme(theme)
        user_themes, self.theme_errors = load_user_themes(preferences.user_themes_file())
        for theme in user_themes:
            self.register_theme(theme)
        chosen = preferences.remembered_theme() or config.theme
        if chosen not in self.available_themes:
            self.theme_errors.append(f"theme {chosen!r} is not available; using cockpit-dark")
            chosen = "cockpit-dark"
        self.theme = chosen
        self._initial_theme = chosen
        self.sub_title = "watch (read-only)" if read_only else str(project)

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run in the terminal. COLUMNS and LINES exported by a shell pin the size Python
        reports (`shutil.get_terminal_size` prefers them to the terminal's own): every
        resize would go unseen, and the panes stop following the newest line."""
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
        return super().run(*args, **kwargs)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The cockpit variables' fallbacks, resolved against the current theme's colours."""
        generated = self.current_theme.to_color_system().generate()
        return {
            name: generated.get(value[1:], value) if value.startswith("$") else value
            for name, value in COCKPIT_VARIABLES.items()
        }

    def _theme_changed(self, theme: Theme) -> None:
        """A theme picked from the palette is remembered for the next session."""
        if theme.name != self._initial_theme:
            preferences.remember_theme(theme.name)
            self._initial_theme = theme.name

    def on_mount(self) -> None:
        if self.theme_errors:  # every load problem in one notification, never a crash
            self.notify("\n".join(self.theme_errors), title="themes", severity="warning")
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))

    def _on_notify(self, event: Notify) -> None:
        """Textual's handler, through `Notices`: a toast for the same event replaces the one
        on screen, a message on screen is not said twice, at most a few show."""
        event.prevent_default()  # (Textual's own handler would add it regardless)
        show, remove = self.notices.arrive(event.notification, list(self._notifications))
        for notification in remove:
            self._unnotify(notification, refresh=False)
        if show:
            self._notifications.add(event.notification)
        self._refresh_notifications()

    def get_default_screen(self) -> Screen:
        """The screen the app starts on (its first frame is this screen's, not a blank one's
        with this pushed over it)."""
        if self.read_only:
            return MainScreen(self.project, self.config, True, self.clock)
        from cockpit.ui.screens.control import Controls  # watch never loads the actions

        autostart = self.autostart_supervisor
        return MainScreen(
            self.project, self.config, False, self.clock,
            controls=lambda screen: Controls(screen, autostart),
        )  # fmt: skip

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands and, on the main screen, one per cockpit key — and one quit: the
        key's ("runs keep going"), not a second one of Textual's."""
        mine = list(screen.palette_commands()) if isinstance(screen, MainScreen) else []
        for command in super().get_system_commands(screen):
            if not (mine and command.title == "Quit"):
                yield command
        yield from mine
