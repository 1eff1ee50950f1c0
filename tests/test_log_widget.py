"""textual 8.2.8's Log stops repainting once max_lines is reached; FollowLog must not."""

from __future__ import annotations

from textual.app import App, ComposeResult

from widgets.log_pane import FollowLog


class OneLog(App[None]):
    def compose(self) -> ComposeResult:
        yield FollowLog(max_lines=20)


async def test_newest_line_is_visible_after_the_cap() -> None:
    app = OneLog()
    async with app.run_test(size=(60, 30)) as pilot:
        log = app.query_one(FollowLog)
        log.write_lines([f"first batch line {i}" for i in range(20)])
        await pilot.pause()
        log.write_lines([f"second batch line {i}" for i in range(5)])
        await pilot.pause()
        screen = app.export_screenshot().replace("&#160;", " ")
        assert "second batch line 4" in screen
        assert "first batch line 4" not in screen  # pruned lines are gone from the screen
