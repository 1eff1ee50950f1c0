"""Metric sparklines: loss, validation metric, GPU utilisation and VRAM, with last/min/max."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from widgets.text_update import set_text


@dataclass(frozen=True)
class MetricSeries:
    label: str
    values: tuple[float, ...] = ()
    last: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Shown instead of numbers when there is no data (e.g. "no GPU")."""


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


class MetricRow(Horizontal):
    DEFAULT_CSS = """
    MetricRow { height: 1; }
    MetricRow > .label { width: 10; color: $text-muted; }
    MetricRow > Sparkline { width: 1fr; min-width: 10; }
    MetricRow > .numbers { width: 40; padding: 0 1; }
    MetricRow.-empty > Sparkline { visibility: hidden; }
    MetricRow > Sparkline > .sparkline--max-color { color: $spark-high; }
    MetricRow > Sparkline > .sparkline--min-color { color: $spark-low; }
    """

    def __init__(self, slot: str) -> None:
        super().__init__(id=f"metric-{slot}", classes="-empty")  # no samples until shown
        self._series: MetricSeries | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="label")
        yield Sparkline([], summary_function=max)
        yield Static("", classes="numbers")

    def show(self, series: MetricSeries) -> None:
        if series == self._series:
            return
        self._series = series
        set_text(self.query_one(".label", Static), series.label)
        self.query_one(Sparkline).data = list(series.values)
        self.set_class(not series.values, "-empty")
        if series.last is None:
            numbers = series.note or "no samples yet"
        else:
            numbers = f"last {_fmt(series.last)}  min {_fmt(series.low)}  max {_fmt(series.high)}"
        set_text(self.query_one(".numbers", Static), numbers)


class MetricSparklines(Vertical):
    SLOTS = ("loss", "val", "gpu", "vram")
    LABELS = {"loss": "loss", "val": "val", "gpu": "GPU %", "vram": "VRAM %"}
    DEFAULT_CSS = """
    MetricSparklines { height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        for slot in self.SLOTS:
            yield MetricRow(slot)

    def show(self, series: dict[str, MetricSeries]) -> None:
        """Show the given slots; a slot without data says so ("no run")."""
        for slot in self.SLOTS:
            shown = series.get(slot, MetricSeries(self.LABELS[slot], note="no run"))
            self.query_one(f"#metric-{slot}", MetricRow).show(shown)
