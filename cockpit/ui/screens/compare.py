"""Compare runs (`c` in the runs view): one metric over steps, one line per run, with a legend
and axes that carry values — drawn by plotext through `textual-plotext`, not by hand.

←/→ switch the metric (every metric any of the runs has); the curves are read in a thread.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from cockpit.core.paths import ProjectPaths
from cockpit.core.records import RunRecord
from widgets.text_update import set_text

Curves = dict[str, list[tuple[float, float]]]


def read_curves(
    paths: ProjectPaths, runs: list[RunRecord], metric: str | None
) -> tuple[list[str], str | None, Curves]:
    """(every metric of the runs, the one drawn, each run's curve of it) — in a thread."""
    from cockpit.store.reader import StoreReader
    from cockpit.store.sqlite_file import StoreError

    try:
        reader = StoreReader(paths.db, read_only=True)
    except StoreError:
        return [], None, {}
    try:
        keys = sorted({key for run in runs for key in reader.metrics.keys(run.id)})
        if metric not in keys:
            metric = next((k for k in ("loss", "val_loss", "val_acc") if k in keys), None)
            metric = metric or (keys[0] if keys else None)
        curves = {run.id: reader.metrics.curve(run.id, metric) for run in runs} if metric else {}
        return keys, metric, curves
    finally:
        reader.close()


class Chart(PlotextPlot):
    """A plotext chart that says so when plotext fails on the data, rather than crashing."""

    def render(self) -> RenderResult:
        try:
            return super().render()
        except Exception as exc:  # plotext's own errors are bare IndexErrors and the like
            return Text(f"the chart could not be drawn: {type(exc).__name__}: {exc}")


class CompareScreen(Screen[None]):
    DEFAULT_CSS = """
    CompareScreen > #compare-title { height: 1; padding: 0 1; background: $panel; color: $text; }
    CompareScreen > Chart { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "back", tooltip="Back to the runs view"),
        Binding("left", "metric(-1)", "previous metric"),
        Binding("right", "metric(1)", "next metric"),
    ]

    def __init__(self, paths: ProjectPaths, runs: list[RunRecord]) -> None:
        super().__init__()
        self.paths = paths
        self.runs = runs
        self.metrics: list[str] = []
        self.metric: str | None = None
        self.curves: Curves = {}
        self.drawn = False
        """Set once a chart (or its absence) is on screen."""

    def compose(self) -> ComposeResult:
        yield Static("compare", id="compare-title")
        yield Chart(id="compare-plot")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load(None)

    def load(self, metric: str | None) -> None:
        paths, runs = self.paths, self.runs

        def read() -> None:
            found = read_curves(paths, runs, metric)
            self.app.call_from_thread(self.draw, *found)

        self.run_worker(
            read, thread=True, group="compare-read", exclusive=True, exit_on_error=False
        )

    def draw(self, metrics: list[str], metric: str | None, curves: Curves) -> None:
        self.metrics, self.metric, self.curves = metrics, metric, curves
        plot = self.query_one(Chart)
        plt = plot.plt
        plt.clear_figure()
        names = ", ".join(run.id for run in self.runs)
        if metric is None:
            set_text(self.query_one("#compare-title", Static), f"{names}: no metrics stored yet")
        else:
            index = self.metrics.index(metric) + 1
            missing = [run.id for run in self.runs if not curves.get(run.id)]
            set_text(
                self.query_one("#compare-title", Static),
                f"{metric} over steps  ·  metric {index} of {len(self.metrics)} (←/→)  ·  "
                f"{len(self.runs)} run(s)"
                + (f"  ·  no {metric} in {', '.join(missing)}" if missing else "")
                + "  ·  esc back",
            )
            for run in self.runs:
                points = curves.get(run.id, [])
                if points:  # (plotext cannot draw an empty series with a label)
                    plt.plot(
                        [s for s, _ in points], [v for _, v in points],
                        label=f"{run.id} ({run.hypothesis})",
                    )  # fmt: skip
            plt.title(metric)
            plt.xlabel("step")
            plt.ylabel(metric)
        plot.refresh()
        self.drawn = True

    def action_metric(self, delta: int) -> None:
        if not self.metrics or self.metric is None:
            return
        index = (self.metrics.index(self.metric) + delta) % len(self.metrics)
        self.load(self.metrics[index])

    def action_back(self) -> None:
        self.dismiss(None)
