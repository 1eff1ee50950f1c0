"""The runs view (every run, sortable, filterable, Enter opens it in the main panes), the
compare view (plotext), and the shortcuts on the run shown (copy its id, open its directory).
Snapshots of the main screen, runs view and compare view at 80×24 and 160×48 in each theme."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from cockpit.core.paths import ProjectPaths
from cockpit.store.writer import Store
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.compare import CompareScreen
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.runs_view import RunsView
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog, table_laid_out
from themes import THEMES
from tools.showcase import NOW, record, settled

OLD = "h1-0c0c0c"
"""An older, stopped attempt of H1 (the plan list shows only H1's newest)."""


def with_an_old_attempt(tmp_path: Path, read_only: bool = False) -> CockpitApp:
    app = make_app(tmp_path, read_only=read_only)
    store = Store(ProjectPaths(app.project).db)
    old = replace(
        record(OLD, "H1", "stopped", NOW - 7200, ended_at=NOW - 6900, cost_so_far=0.2,
               uptime_s=300, detail="stopped and terminated"),
        created_at=NOW - 7300,
    )  # fmt: skip
    store.create_run(old)
    store.add_metrics(
        OLD,
        [(NOW, float(s), "loss", round(2.6 / (s + 1) ** 0.4, 4)) for s in range(25)]
        + [(NOW, 19.0, "val_loss", 1.4)],
    )
    store.close()
    return app


async def open_runs(pilot: Pilot[None], log: MessageLog) -> RunsView:
    await settled(pilot.app)
    await pilot.press("a")
    view = pilot.app.screen
    assert isinstance(view, RunsView)
    await log.until(lambda: view.loaded)
    await pilot.pause()
    return view


def column(view: RunsView, index: int) -> list[str]:
    table = view.query_one(DataTable)
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


async def test_every_run_sorts_filters_and_opens_in_the_main_panes(tmp_path: Path) -> None:
    app = with_an_old_attempt(tmp_path)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        view = await open_runs(pilot, log)
        assert column(view, 0) == ["h5-5b5b5b", "h1-0a0a0a", OLD]  # newest first
        await pilot.press("8")  # by cost, most first; again: least first
        assert column(view, 6) == ["$0.600", "$0.600", "$0.200"]  # (no plan column: one plan)
        await pilot.press("8")
        assert column(view, 0)[0] == OLD
        await pilot.press("slash", *"state:stopped", "enter")
        assert column(view, 0) == [OLD] and column(view, 2) == ["■ stopped"]
        await pilot.press("escape")  # clears the filter first
        assert len(column(view, 0)) == 3 and isinstance(app.screen, RunsView)
        await pilot.press("slash", *"state:stopped", "enter", "enter")
        main = app.screen
        assert isinstance(main, MainScreen)
        await log.until(lambda: main.shown is not None and main.shown.id == OLD)
        header = str(main.query_one("#run-header").render())
        assert OLD in header and "opened from the runs view" in header
        assert "STOPPED" in header
        # The cursor moving on goes back to the hypotheses' newest runs.
        await pilot.press("down")
        await log.until(lambda: main.shown is None or main.shown.id != OLD)


async def test_compare_draws_one_line_per_marked_run_and_switches_metric(tmp_path: Path) -> None:
    app = with_an_old_attempt(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        view = await open_runs(pilot, log)
        await pilot.press("c")  # nothing marked: the run under the cursor alone
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await log.until(lambda: compare.drawn)
        assert list(compare.curves) == ["h5-5b5b5b"]
        await pilot.press("escape")
        assert app.screen is view
        await pilot.press("down", "space", "down", "space", "c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await log.until(lambda: compare.drawn)
        assert compare.metric == "loss" and sorted(compare.curves) == sorted(["h1-0a0a0a", OLD])
        assert len(compare.curves[OLD]) == 25 and compare.curves[OLD][0] == (0.0, 2.6)
        assert compare.metrics == ["gpu_mem", "gpu_util", "loss", "step", "val_loss"]
        chart = Text.from_ansi(compare.query_one(PlotextPlot).plt.build()).plain
        assert "h1-0a0a0a (H1)" in chart and f"{OLD} (H1)" in chart  # the legend
        assert "loss" in chart and "step" in chart and "2.6" in chart.replace("2.60", "2.6")
        compare.drawn = False
        await pilot.press("right")
        await log.until(lambda: compare.drawn)
        assert compare.metric == "step"
        title = str(compare.query_one("#compare-title").render())
        assert f"no step in {OLD}" in title and "metric 4 of 5" in title


async def test_y_copies_the_run_id_and_o_says_where_its_directory_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("TMUX", raising=False)
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        await settled(app)
        main = app.screen
        assert isinstance(main, MainScreen) and main.shown is not None
        await pilot.press("y")
        assert app.clipboard == main.shown.id
        await pilot.press("o")
        await log.until(lambda: any(str(main.paths.mirror(main.shown.id)) in n.message  # type: ignore[union-attr]
                                    for n in app.notices.history))  # fmt: skip


SIZES = [(80, 24), (160, 48)]


async def _to_view(pilot: Pilot[None], view: str) -> None:
    await settled(pilot.app)
    if view == "main":
        return
    await pilot.press("a")
    runs = pilot.app.screen
    assert isinstance(runs, RunsView)
    while not runs.loaded:
        await pilot.pause()
    await table_laid_out(pilot, runs.query_one(DataTable))
    if view == "compare":
        await pilot.press("down", "space", "down", "space", "c")
        compare = pilot.app.screen
        assert isinstance(compare, CompareScreen)
        while not compare.drawn:
            await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("view", ["main", "runs", "compare"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("theme", sorted(THEMES))
def test_snapshot(
    snap_compare, tmp_path: Path, theme: str, size: tuple[int, int], view: str
) -> None:  # type: ignore[no-untyped-def]
    app = with_an_old_attempt(tmp_path)
    app.theme = theme

    async def run_before(pilot: Pilot[None]) -> None:
        await _to_view(pilot, view)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_the_filter_terms() -> None:
    from cockpit.ui.runs_table import RunRow, matches

    run = replace(record("h3-aa", "H3", "failed", NOW), verdict="failed (oom)", backend="pod")
    row = RunRow(run, ("val_acc", 0.9))
    for query, found in [
        ("", True), ("h3", True), ("state:failed", True), ("state:running", False),
        ("backend:pod state:fail", True), ("backend:lab", False), ("verdict:oom", True),
        ("hypothesis:h3", True), ("plan:hypotheses", True), ("OOM", True), ("nope", False),
    ]:  # fmt: skip
        assert matches(row, query) is found, query
