"""Metric sparklines: loss, validation metric, GPU utilisation and VRAM, with last/min/max,
and the steps they cover.

A sparkline draws what its numbers describe: the whole run (downsampled by the store to at
most a few hundred means), on the scale of the run's own min and max — one sample is one cell,
not the whole width, and a metric that moved by a fraction of a percent is drawn nearly flat,
not as wild swings.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from widgets.text_update import set_text

BARS = "▁▂▃▄▅▆▇█"
FLAT_BELOW = 0.02
"""A spread smaller than this fraction of the values' size is drawn on a scale that wide."""


@dataclass(frozen=True)
class MetricSeries:
    label: str
    values: tuple[float, ...] = ()
    """The whole run, downsampled, oldest first."""
    last: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Shown instead of numbers when there is no data (e.g. "no GPU")."""
    steps: tuple[float, float] | None = None
    """The first and last step the samples cover, when the metric has steps."""


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def scale(values: tuple[float, ...], low: float | None, high: float | None) -> tuple[float, float]:
    """The bottom and top of the drawing: the run's min and max, widened around their middle
    when they are too close to mean anything."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    bottom = low if low is not None and abs(low) != float("inf") else min(finite, default=0.0)
    top = high if high is not None and abs(high) != float("inf") else max(finite, default=1.0)
    least = FLAT_BELOW * max(abs(bottom), abs(top), 1e-12)
    if top - bottom < least:
        middle = (top + bottom) / 2
        bottom, top = middle - least / 2, middle + least / 2
    return bottom, top


class Bars:
    """One row of bars: at most one cell per value (fewer cells than values: the means of
    consecutive stretches), between `bottom` and `top`, coloured from low to high."""

    def __init__(
        self, values: tuple[float, ...], bottom: float, top: float, low: Color, high: Color
    ) -> None:
        self.values, self.bottom, self.top, self.low, self.high = values, bottom, top, low, high

    def cells(self, width: int) -> list[float]:
        values = [v for v in self.values if v == v]
        if len(values) <= width:
            return values
        size = len(values) / width
        out = []
        for index in range(width):
            stretch = values[int(index * size) : int((index + 1) * size)] or values[-1:]
            out.append(sum(stretch) / len(stretch))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        extent = self.top - self.bottom or 1.0
        for value in self.cells(options.max_width):
            ratio = min(1.0, max(0.0, (value - self.bottom) / extent))
            colour = self.low.blend(self.high, ratio).rich_color
            yield Segment(BARS[round(ratio * (len(BARS) - 1))], Style(color=colour))


class MetricSpark(Sparkline):
    """Textual's sparkline widget (its colours, its CSS) drawing `Bars` on a given scale."""

    bounds: tuple[float, float] = (0.0, 1.0)

    def render(self) -> Bars:
        _, base = self.background_colors
        low = base + self.get_component_styles("sparkline--min-color").color
        high = base + self.get_component_styles("sparkline--max-color").color
        return Bars(tuple(self.data or ()), *self.bounds, low, high)


class MetricRow(Horizontal):
    DEFAULT_CSS = """
    MetricRow { height: 1; }
    MetricRow > .label { width: 8; color: $text-muted; }
    MetricRow > MetricSpark { width: 1fr; min-width: 6; }
    MetricRow > .numbers { width: auto; padding: 0 1; }
    MetricRow.-empty > MetricSpark { visibility: hidden; }
    MetricRow > MetricSpark > .sparkline--max-color { color: $spark-high; }
    MetricRow > MetricSpark > .sparkline--min-color { color: $spark-low; }
    """

    def __init__(self, slot: str) -> None:
        super().__init__(id=f"metric-{slot}", classes="-empty")  # no samples until shown
        self._series: MetricSeries | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="label")
        yield MetricSpark([])
        yield Static("", classes="numbers")

    def show(self, series: MetricSeries) -> None:
        if series == self._series:
            return
        self._series = series
        set_text(self.query_one(".label", Static), series.label)
        spark = self.query_one(MetricSpark)
        spark.bounds = scale(series.values, series.low, series.high)
        spark.data = list(series.values)
        self.set_class(not series.values, "-empty")
        self._numbers()

    def on_resize(self, event: events.Resize) -> None:
        self._numbers()

    def _numbers(self) -> None:
        """Last, min and max in words where they fit, else in a shorter form — never cut, so
        never a clipped "min 0" that is not the min."""
        series = self._series
        if series is None:
            return
        room = self.size.width - 8 - 6 - 2  # the label, the sparkline's least, padding
        narrow = bool(self.size.width)
        if series.last is None:
            numbers = series.note or "no samples yet"
            if narrow and len(numbers) > room:  # "no NVIDIA GPU on this host" → "no NVIDIA GPU"
                numbers = numbers.split(" on ")[0]
        else:
            last, low, high = _fmt(series.last), _fmt(series.low), _fmt(series.high)
            numbers = f"last {last}  min {low}  max {high}"
            if narrow and len(numbers) > room:
                numbers = f"{last} ({low}–{high})"
        set_text(self.query_one(".numbers", Static), numbers)


class MetricSparklines(Vertical):
    SLOTS = ("loss", "val", "gpu", "vram")
    LABELS = {"loss": "loss", "val": "val", "gpu": "GPU %", "vram": "VRAM %"}
    DEFAULT_CSS = """
    MetricSparklines { height: auto; padding: 0 1; }
    MetricSparklines > #metric-range { height: 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        for slot in self.SLOTS:
            yield MetricRow(slot)
        yield Static("", id="metric-range")

    def show(self, series: dict[str, MetricSeries]) -> None:
        """Show the given slots; a slot without data says so ("no run")."""
        for slot in self.SLOTS:
            shown = series.get(slot, MetricSeries(self.LABELS[slot], note="no run"))
            self.query_one(f"#metric-{slot}", MetricRow).show(shown)
        steps = next((s.steps for s in series.values() if s.steps is not None), None)
        set_text(
            self.query_one("#metric-range", Static),
            f"whole run: steps {_fmt(steps[0])}–{_fmt(steps[1])}" if steps else "",
        )
