"""The help screen: cockpit's keys first (generated from the bindings active on the screen it
was opened from), the health, recover and cost rules in force, then Textual's own keys. It
scrolls, so every key can be found on an 80×24 terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from cockpit.ui.screens import keys

Row = tuple[str, str, str]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 96; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $primary; background: $surface; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help_close")]

    def __init__(
        self,
        rows: list[Row],
        others: list[Row],
        rules: tuple[str, list[str]] | None,
        read_only: bool,
    ) -> None:
        super().__init__()
        self._rows = rows
        self._others = others
        self._rules = rules
        self._read_only = read_only

    @classmethod
    def of(
        cls, screen: Screen[Any], read_only: bool, rules: tuple[str, list[str]] | None = None
    ) -> HelpScreen:
        """The keys active on `screen` (each action once), as the user's keys display them,
        cockpit's own first."""
        rows: list[Row] = []
        others: list[Row] = []
        seen = set()
        for active in keys.ordered(screen.active_bindings).values():
            binding = active.binding
            if binding.action in seen:
                continue
            seen.add(binding.action)
            row = (screen.app.get_key_display(binding), binding.description, binding.tooltip)
            (rows if keys.is_cockpits(active) else others).append(row)
        return cls(rows, others, rules, read_only)

    def compose(self) -> ComposeResult:
        mode = "  (READ-ONLY watch mode: no launch, stop or relaunch here)"
        title = Text.from_markup("[b]cockpit keys[/b]" + (mode if self._read_only else ""))
        parts: list[Text | Table] = [title, _table(self._rows)]
        if self._rules is not None:
            heading, lines = self._rules
            parts.append(Text.from_markup(f"\n[b]{heading}[/b]"))
            parts.append(_table([(*line.partition(": ")[::2], "") for line in lines]))
        if self._others:
            parts += [Text.from_markup("\n[b]other keys[/b]"), _table(self._others)]
        parts.append(Text("\nctrl+p opens the command palette. Esc closes this; ↑ ↓ scroll."))
        with VerticalScroll(id="help-body"):
            for part in parts:
                yield Static(part)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows and page keys scroll it

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def _table(rows: list[Row]) -> Table:
    """Columns that wrap under themselves; an empty last column is left out."""
    table = Table.grid(padding=(0, 1), pad_edge=True)
    table.add_column(style="bold", no_wrap=True, min_width=6)
    wide = any(row[2] for row in rows)
    table.add_column(no_wrap=wide, min_width=10, ratio=None if wide else 1)
    if wide:
        table.add_column(ratio=1)
    for key, description, tooltip in rows:
        table.add_row(key, description, *([tooltip] if wide else []))
    return table
