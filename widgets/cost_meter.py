"""The cost meter: rate, elapsed billed time, cost so far, and the cap as a bar when set."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from widgets.run_header import format_duration


@dataclass(frozen=True)
class CostReading:
    rate_per_hour: float
    elapsed_s: float
    cost_so_far: float
    cap: float | None = None


def format_dollars(amount: float) -> str:
    """Cents for real money, tenths of a cent while a run has cost almost nothing yet."""
    return f"${amount:,.2f}" if amount >= 10 else f"${amount:.3f}"


class CostMeter(Vertical):
    DEFAULT_CSS = """
    CostMeter { height: auto; width: 34; padding: 0 1; border-left: vkey $foreground 30%; }
    CostMeter > #cost-cap { display: none; }
    CostMeter.-capped > #cost-cap { display: block; }
    CostMeter.-warning #cost-total { color: $warning; }
    CostMeter.-over #cost-total { color: $error; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._reading: CostReading | bool | None = False  # False: nothing shown yet

    def compose(self) -> ComposeResult:
        yield Static("cost", id="cost-rate")
        yield Static("", id="cost-total")
        yield ProgressBar(total=100, show_eta=False, id="cost-cap")

    def show(self, reading: CostReading | None) -> None:
        if reading == self._reading:
            return
        self._reading = reading
        rate = self.query_one("#cost-rate", Static)
        total = self.query_one("#cost-total", Static)
        if reading is None:
            rate.update("cost: no run")
            total.update("")
            self.set_class(False, "-capped")
            return
        rate.update(f"${reading.rate_per_hour:.2f}/h × {format_duration(reading.elapsed_s)}")
        line = f"so far {format_dollars(reading.cost_so_far)}"
        if reading.cap:
            line += f" of {format_dollars(reading.cap)} cap"
            fraction = reading.cost_so_far / reading.cap
            self.set_class(0.8 <= fraction < 1.0, "-warning")
            self.set_class(fraction >= 1.0, "-over")
            self.query_one(ProgressBar).update(total=100, progress=min(100.0, fraction * 100))
        total.update(line)
        self.set_class(bool(reading.cap), "-capped")
