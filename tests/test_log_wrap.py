"""`w` in the log pane: long lines go on over several rows (the view still moves by lines,
the last line is shown whole at the end and followed), and back to one row per line scrolled
sideways; following goes on across the toggle."""

from __future__ import annotations

from pathlib import Path

from tests.test_log_browse import LINES, main_with_a_long_log, shown
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog
from widgets.browse_log import BrowseLog
from widgets.log_pane import LogPane


def line(number: int) -> str:
    """Line `number` (1-based) of the generated log."""
    return f"line {number:06d} " + "x" * ((number - 1) % 300)


async def test_w_wraps_long_lines_follows_the_tail_and_unwraps(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        screen, mirror = await main_with_a_long_log(pilot, log)
        pane = screen.query_one(LogPane)
        view = pane.query_one(BrowseLog)

        def status() -> str:
            return str(pane.query_one("#log-status").render())

        def last_rows(text: str) -> bool:
            """`text` fills the last rows, wrapped: the last line shown whole."""
            pieces = -(-len(text) // view.scrollable_content_region.width)
            return "".join(shown(view)[-pieces:]) == text

        assert pane.following and not pane.browsing
        await pilot.press("w")
        await log.until(lambda: pane.browsing and view.total == LINES and last_rows(line(LINES)))
        assert pane.wrap and pane.following and "following, wrapped" in status()
        assert view.max_scroll_x == 0  # nothing to scroll sideways
        # New lines come in at the bottom, wrapped, while it follows.
        newest = "the newest line " + "z" * 300
        with open(mirror, "a") as handle:
            handle.write(newest + "\n")
        await log.until(lambda: view.total == LINES + 1 and last_rows(newest))
        assert pane.following

        # Anywhere in the log: the top is a line, a long line takes the rows it needs.
        await pilot.press("home")
        await log.until(lambda: shown(view)[0] == line(1).rstrip())
        assert not pane.following and "End/G/f: the tail" in status()
        view.go_to(250 + 3)
        await log.until(lambda: shown(view)[0] == line(251)[: view.scrollable_content_region.width])
        width = view.scrollable_content_region.width
        pieces = -(-len(line(251)) // width)
        assert "".join(shown(view)[:pieces]) == line(251)
        assert shown(view)[pieces] == line(252)[:width]
        assert "line 251 of" in status()
        last = view.wrapped_rows()[-1].line  # the line of the last row on screen
        assert last > 251
        await pilot.press("pagedown")  # the next page starts with it
        await log.until(lambda: view.top == last)
        assert shown(view)[0] == line(last + 1)[:width]
        await pilot.press("pageup")  # back by as many lines as fill the screen
        await log.until(lambda: view.top < last)
        assert view.wrapped_rows()[-1].line >= last - 1

        # Unwrapped: one row per line, scrolled sideways; the place is kept.
        top = view.top
        await pilot.press("w")
        assert not pane.wrap and pane.browsing and view.top == top
        assert shown(view)[1] == line(top + 2)[:width]
        assert view.virtual_size.width > width

        # End: the tail, followed; w there wraps and keeps following, and back.
        await pilot.press("end")
        await log.until(lambda: not pane.browsing and pane.following)
        await pilot.press("w")
        await log.until(lambda: pane.browsing and last_rows(newest))
        assert pane.following
        await pilot.press("w")
        await log.until(lambda: not pane.browsing)
        assert pane.following and not pane.wrap
