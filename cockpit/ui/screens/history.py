"""The notification history (`m`): every toast this window said, newest first — a toast that
went by while you looked elsewhere is still here."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.ui.notices import Notice

MARK = {"error": "✗", "warning": "⚠", "information": "·"}
"""Severity as a symbol too, never by colour alone."""


class HistoryScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    HistoryScreen > VerticalScroll { width: 110; max-width: 100%; height: auto;
        max-height: 100%; padding: 0 1; border: thick $primary; background: $surface; }
    """
    BINDINGS = [Binding("escape,m,q", "dismiss", "Close", id="history_close")]

    def __init__(self, notices: Iterable[Notice]) -> None:
        super().__init__()
        self.notices = list(notices)[::-1]
        """Newest first."""

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for notice in self.notices:
            at = time.strftime("%H:%M:%S", time.localtime(notice.at))
            table.add_row(at, MARK.get(notice.severity, "·"), notice.message)
        with VerticalScroll(id="history-body"):
            yield Static(f"[b]messages[/b] ({len(self.notices)}, newest first; Esc closes)")
            yield Static(table if self.notices else "nothing said yet")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
