"""Sparklines draw what their numbers describe: the whole run, on the run's own scale."""

from __future__ import annotations

from rich.console import Console
from textual.color import Color

from widgets.sparklines import BARS, Bars, scale


def drawn(values: tuple[float, ...], width: int, low: float, high: float) -> str:
    bars = Bars(values, *scale(values, low, high), Color(0, 0, 0), Color(255, 255, 255))
    console = Console(width=width, color_system=None)
    with console.capture() as captured:
        console.print(bars, end="")
    return captured.get()


def test_one_sample_is_one_cell_not_the_whole_width() -> None:
    assert drawn((0.5,), 40, 0.5, 0.5) in (BARS[3], BARS[4])  # one cell, mid-height


def test_a_tiny_spread_is_drawn_nearly_flat() -> None:
    # 0.936 to 0.940 is 0.4%: not from the bottom to the top of the cell.
    line = drawn((0.936, 0.937, 0.940, 0.938), 40, 0.936, 0.940)
    assert len(line) == 4 and set(line) <= set(BARS[2:6])
    # A real drop is drawn from top to bottom.
    assert drawn((0.69, 0.4, 0.2, 0.12), 40, 0.12, 0.69) == BARS[7] + BARS[3] + BARS[1] + BARS[0]


def test_more_samples_than_cells_are_means_of_stretches() -> None:
    values = tuple(float(v) for v in range(100))
    line = drawn(values, 10, 0.0, 99.0)
    assert len(line) == 10 and line[0] == BARS[0] and line[-1] == BARS[-1]


def test_the_scale_is_the_runs_min_and_max() -> None:
    # The drawing's top is the run's max even when the downsampled means never reach it.
    assert scale((0.3, 0.2), 0.1, 0.6932) == (0.1, 0.6932)
    assert drawn((0.3, 0.2), 10, 0.1, 0.6932)[0] < BARS[4]
