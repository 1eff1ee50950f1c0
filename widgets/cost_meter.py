"""The cost meter: rate × billed time, cost so far against the cap (a bar that turns to a
warning at 80% and an alert at 100%), plan and today's totals, and the projection to finish."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from widgets.run_header import format_duration
from widgets.text_update import set_text


@dataclass(frozen=True)
class CostReading:
    rate_per_hour: float
    elapsed_s: float
    cost_so_far: float
    cap: float | None = None
    plan_cost: float | None = None
    today: float | None = None
    eta_s: float | None = None
    """Time to the run's last step, when its total steps are known."""
    projected: float | None = None
    """Cost at the last step, when its total steps are known."""
    per_1k_steps: float | None = None
    note: str = ""
    """Something about billing the numbers do not say (a stopped pod's volume)."""
    pending: bool = False
    """The run waits in a scheduler's queue: nothing is billed until it starts."""


def format_dollars(amount: float) -> str:
    """Cents for real money, tenths of a cent while a run has cost almost nothing yet."""
    return f"${amount:,.2f}" if amount >= 10 else f"${amount:.3f}"


class CostMeter(Vertical):
    DEFAULT_CSS = """
    CostMeter { height: auto; width: 40; padding: 0 1; border-left: vkey $foreground 30%; }
    CostMeter > ProgressBar > Bar { width: 1fr; }
    CostMeter > #cost-cap { display: none; }
    CostMeter.-capped > #cost-cap { display: block; }
    CostMeter.-capped #cost-total { color: $cost-ok; }
    CostMeter.-warning #cost-total { color: $cost-warning; text-style: bold; }
    CostMeter.-over #cost-total { color: $cost-over; text-style: bold reverse; }
    CostMeter > Static { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._reading: CostReading | bool | None = False  # False: nothing shown yet

    def compose(self) -> ComposeResult:
        yield Static("cost", id="cost-rate")
        yield Static("", id="cost-total")
        # The bar alone: its own percentage was clipped to a digit; the line above says it.
        yield ProgressBar(total=100, show_eta=False, show_percentage=False, id="cost-cap")
        yield Static("", id="cost-totals")
        yield Static("", id="cost-projection")

    def show(self, reading: CostReading | None) -> None:
        if reading == self._reading:
            return
        self._reading = reading
        rate = self.query_one("#cost-rate", Static)
        total = self.query_one("#cost-total", Static)
        totals = self.query_one("#cost-totals", Static)
        projection = self.query_one("#cost-projection", Static)
        if reading is None:
            set_text(rate, "cost: no run")
            for widget in (total, totals, projection):
                set_text(widget, "")
            self.set_class(False, "-capped", "-warning", "-over")
            return
        rate_line = f"${reading.rate_per_hour:.2f}/h × {format_duration(reading.elapsed_s)}"
        if reading.pending:
            rate_line = "pending: nothing billed yet"  # (short: the meter is narrow)
        elif reading.per_1k_steps is not None:
            rate_line += f" · {format_dollars(reading.per_1k_steps)}/1k steps"
        set_text(rate, rate_line)
        line = f"so far {format_dollars(reading.cost_so_far)}"
        fraction = 0.0
        if reading.cap:
            fraction = reading.cost_so_far / reading.cap
            line += f" of {format_dollars(reading.cap)} cap ({fraction:.0%})"
            if fraction >= 1.0:
                line = "✗ CAP " + line  # a word and a symbol, not only a colour
            elif fraction >= 0.8:
                line = "⚠ " + line
            self.query_one(ProgressBar).update(total=100, progress=min(100.0, fraction * 100))
        set_text(total, line)
        self.set_class(bool(reading.cap), "-capped")
        self.set_class(bool(reading.cap) and 0.8 <= fraction < 1.0, "-warning")
        self.set_class(bool(reading.cap) and fraction >= 1.0, "-over")
        parts = []
        if reading.plan_cost is not None:
            parts.append(f"plan {format_dollars(reading.plan_cost)}")
        if reading.today is not None:
            parts.append(f"today {format_dollars(reading.today)}")
        set_text(totals, " · ".join(parts))
        if reading.eta_s is not None and reading.projected is not None:
            finish = (
                f"last step in {format_duration(reading.eta_s)}, "
                f"≈ {format_dollars(reading.projected)} in all"
            )
        else:
            finish = ""
        set_text(projection, finish or reading.note)
