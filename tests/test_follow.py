"""'following' means the newest line is on screen, whatever the terminal and the layout do."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from cockpit.ui.screens.main import MainScreen
from tests.test_snapshots import make_app
from tools.showcase import settled
from widgets.follow_log import FollowLog
from widgets.log_pane import LogPane
from widgets.run_header import RunHeader


def newest_on_screen(log: FollowLog) -> bool:
    """The log's last line lies inside the rows it shows."""
    shown = log.scrollable_content_region.height
    return log.line_count > shown and round(log.scroll_y) + shown >= log.line_count


def status(pane: LogPane) -> str:
    return str(pane.query_one("#log-status").render())


async def grow(pilot: Pilot[None], pane: LogPane, step: int) -> None:
    pane.append("train", [f"step {step}.{i}" for i in range(30)])
    await pilot.pause()


async def test_following_survives_resizes_and_a_growing_header(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(app)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        pane = screen.query_one(LogPane)
        log = pane.log_for("train")
        await grow(pilot, pane, 0)
        assert pane.following and newest_on_screen(log) and "following" in status(pane)
        for size in ((100, 30), (80, 24), (220, 60), (160, 48)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert pane.following and newest_on_screen(log), size
            assert "following" in status(pane), size
            await grow(pilot, pane, size[0])  # and the next lines stay in view
            assert newest_on_screen(log), size
        # A failure grows the header by two lines: the pane shrinks and still shows the end.
        screen.query_one(RunHeader).update("a\nb\nc\nd")
        await pilot.pause()
        assert pane.following and newest_on_screen(log)


async def test_scrolling_up_pauses_and_says_so_and_scrolling_down_resumes(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        pane = screen.query_one(LogPane)
        log = pane.log_for("train")
        await grow(pilot, pane, 0)
        log.focus()
        await pilot.press("pageup")
        await pilot.pause()
        assert not pane.following and "paused — f to follow" in status(pane)
        at = log.scroll_y
        await grow(pilot, pane, 1)  # paused: new lines do not move the view
        assert log.scroll_y == at and not pane.following
        await pilot.resize_terminal(80, 24)  # nor does a resize turn it back on
        await pilot.pause()
        assert not pane.following
        await pilot.press("end")
        await pilot.pause()
        assert pane.following and newest_on_screen(log) and "following" in status(pane)


async def test_a_finished_run_opens_following_with_its_last_line_shown(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.shown is not None
        pane = screen.query_one(LogPane)
        log = pane.log_for("train")
        assert pane.following and "following" in status(pane)
        assert newest_on_screen(log)
