"""Raising a cost cap before relaunching a run that reached it: an explicit, recorded choice."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class RaiseCapScreen(ModalScreen[float | None]):
    """Asks for a new cap in dollars; dismisses with it, or None when cancelled."""

    DEFAULT_CSS = """
    RaiseCapScreen { align: center middle; }
    RaiseCapScreen > Vertical { width: 70; height: auto; padding: 1 2; border: thick $error;
        background: $surface; }
    RaiseCapScreen Static { height: auto; margin-bottom: 1; }
    RaiseCapScreen #raise-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="raise_cancel", tooltip="Keep the cap")]

    def __init__(self, what: str, cap: float, spent: float) -> None:
        super().__init__()
        self._what = what
        self._cap = cap
        self._spent = spent

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"[b]{self._what} reached its cost cap[/b]\n"
                f"It cost ${self._spent:.2f}; the cap is ${self._cap:.2f}. A relaunch needs a "
                "higher cap. The raise is recorded as an event.",
                id="raise-body",
            )
            yield Input(placeholder=f"new cap in dollars, above {self._cap:.2f}", id="raise-cap")
            yield Static("", id="raise-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = float(event.value.strip().lstrip("$"))
        except ValueError:
            self.query_one("#raise-error", Static).update("type an amount, e.g. 25")
            return
        if value <= self._cap:
            self.query_one("#raise-error", Static).update(f"must be above ${self._cap:.2f}")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
