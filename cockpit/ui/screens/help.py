"""The help screen: every key binding of the current mode, generated from the bindings."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; height: auto; padding: 1 2; border: thick $primary;
        background: $surface; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help_close")]

    def __init__(self, rows: list[tuple[str, str, str]], read_only: bool) -> None:
        super().__init__()
        self._rows = rows
        self._read_only = read_only

    @classmethod
    def of(cls, screen: Screen[Any], read_only: bool) -> HelpScreen:
        """The keys active on `screen` (each action once), as the user's keys display them."""
        rows, seen = [], set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.description not in seen:
                seen.add(binding.description)
                key = screen.app.get_key_display(binding)
                rows.append((key, binding.description, binding.tooltip))
        return cls(rows, read_only)

    def compose(self) -> ComposeResult:
        lines = ["[b]cockpit keys[/b]" + ("  (READ-ONLY watch mode)" if self._read_only else "")]
        for key, description, tooltip in self._rows:
            lines.append(f"  [b]{key:<8}[/b] {description:<16} {tooltip}")
        lines.append("")
        lines.append("ctrl+p opens the command palette. Esc closes this.")
        with Vertical():
            yield Static("\n".join(lines))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
