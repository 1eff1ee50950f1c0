"""Browsing a whole log in the pane: Home shows line 1 of a log far longer than the tail the
pane holds, line numbers are exact across the index's blocks, PageDown reads on, End follows
again; a log that grows while browsed keeps the position."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from cockpit.ui.screens.main import MainScreen
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog
from tools.showcase import settled
from widgets.browse_log import BrowseLog
from widgets.log_pane import MAX_LINES, LogPane

LINES = 30_000


def shown(view: BrowseLog) -> list[str]:
    """The lines on screen, as rendered (above the horizontal scrollbar, when there is one)."""
    rows = view.scrollable_content_region.height
    return [view.render_line(y).text.rstrip() for y in range(rows)]


async def main_with_a_long_log(
    pilot: Pilot[None], log: MessageLog, needles: dict[int, str] | None = None
) -> tuple[MainScreen, Path]:
    await settled(pilot.app)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen) and screen.shown is not None
    mirror = screen.paths.mirror_log(screen.shown.id, "train")
    lines = [f"line {i + 1:06d} " + "x" * (i % 300) for i in range(LINES)]
    for number, line in (needles or {}).items():
        lines[number : number + 1] = [line]
    mirror.write_text("\n".join(lines) + "\n")
    screen.logs.show(screen.shown)  # read again (as after a store commit)
    pane = screen.query_one(LogPane)
    await log.until(lambda: pane.log_for("train").line_count == MAX_LINES)
    return screen, mirror


async def test_home_shows_line_one_and_end_follows_again(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        screen, mirror = await main_with_a_long_log(pilot, log)
        pane = screen.query_one(LogPane)
        pane.log_for("train").focus()
        await pilot.press("home")
        view = pane.query_one(BrowseLog)
        await log.until(lambda: pane.browsing and shown(view)[0] == "line 000001")
        assert shown(view)[1] == "line 000002 x"
        # (the first rows may come before the whole file is counted: "indexing: 80% read")
        await log.until(
            lambda: f"line 1 of {LINES:,}" in str(pane.query_one("#log-status").render())
        )
        assert "End/G/f: the tail" in str(pane.query_one("#log-status").render())
        for _ in range(30):  # across many 64 KiB blocks of the index
            await pilot.press("pagedown")
        await log.until(lambda: shown(view)[0] != "…")
        top = view.top
        assert shown(view)[0].startswith(f"line {top + 1:06d}") and top > 500
        assert shown(view)[-1].startswith(f"line {top + len(shown(view)):06d}")
        for line in (LINES // 2, 25_000, 12_345):  # far apart: dozens of blocks
            view.go_to(line)
            await log.until(lambda line=line: shown(view)[3].startswith(f"line {line + 1:06d}"))
        view.go_to(top + 3)
        await log.until(lambda: shown(view)[0].startswith(f"line {top + 1:06d}"))
        # The log grows while browsed: the view stays where it is, the count follows.
        with open(mirror, "a") as handle:
            handle.write("a new line\n")
        await log.until(lambda: view.total == LINES + 1)
        assert view.top == top and shown(view)[0].startswith(f"line {top + 1:06d}")
        await pilot.press("end")
        await log.until(lambda: not pane.browsing)
        assert pane.following and "following" in str(pane.query_one("#log-status").render())


async def test_search_finds_next_previous_counts_and_esc_keeps_the_place(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        needles = {7: "nccl warn near the top", 20_000: "NCCL WARN one in the middle"}
        needles[LINES - 1] = "NCCL WARN the end"
        screen, _ = await main_with_a_long_log(pilot, log, needles)
        pane = screen.query_one(LogPane)
        view = pane.query_one(BrowseLog)

        def status() -> str:
            return str(pane.query_one("#log-status").render())

        # From the tail (following), a search wraps to the file's first match: smart case.
        await pilot.press("slash", *"nccl warn", "enter")
        await log.until(lambda: pane.browsing and pane.match_line == 7)
        await log.until(lambda: "match 1 of 3" in status())

        await log.until(lambda: shown(view)[3] == "nccl warn near the top")
        assert view.marked == 7
        await pilot.press("n")
        await log.until(lambda: pane.match_line == 20_000 and "match 2 of 3" in status())
        await log.until(lambda: shown(view)[3] == "NCCL WARN one in the middle")
        await pilot.press("n", "n")  # the last one, then wrapped around to the first
        await log.until(lambda: pane.match_line == 7 and "match 1 of 3" in status())
        await pilot.press("N")  # backward from the first: wraps to the last
        await log.until(lambda: pane.match_line == LINES - 1 and "match 3 of 3" in status())
        # A capital letter: exact case; a regex.
        await pilot.press("slash", *"NCCL WARN (one|two)", "enter")
        await log.until(lambda: pane.match_line == 20_000 and "match 1 of 1" in status())
        await pilot.press("slash", *"no such line", "enter")
        await log.until(lambda: "no match for 'no such line'" in status())
        assert view.top == 20_000 - 3  # where it was
        await pilot.press("escape")
        assert not pane.search_query and view.pattern is None and pane.browsing
        assert view.top == 20_000 - 3 and "/no such" not in status()


async def test_scrolling_up_out_of_the_tail_goes_on_into_the_whole_log(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        screen, _ = await main_with_a_long_log(pilot, log)
        pane = screen.query_one(LogPane)
        tail = pane.log_for("train")
        status = str(pane.query_one("#log-status").render())
        assert f"the last {MAX_LINES:,} lines" in status  # never "5000 lines" of 30,000
        assert str(tail.lines[0]).startswith(f"line {LINES - MAX_LINES + 1:06d}")
        tail.focus()
        await pilot.pause()  # (the backlog's own scroll to its end comes after a refresh)
        tail.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        assert tail.scroll_y == 0 and not pane.following
        await pilot.press("pageup")  # past the top of the 5000 lines held: the page before
        view = pane.query_one(BrowseLog)
        await log.until(lambda: pane.browsing and shown(view)[-1] != "…" and view.total > 0)
        await log.until(
            lambda: shown(view)[-1].startswith(f"line {LINES - MAX_LINES:06d}"), timeout=10
        )


async def test_odd_lines_and_a_truncated_log_in_the_pane(tmp_path: Path) -> None:
    """CRLF, a carriage-return progress bar, invalid UTF-8 and a 20 MB line as the pane shows
    them; a log truncated while browsed is said and read again."""
    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        await settled(app)
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.shown is not None
        mirror = screen.paths.mirror_log(screen.shown.id, "train")
        with open(mirror, "wb") as handle:
            handle.write(b"windows line\r\n")
            handle.write(b"epoch 1:  10%|#   | 1/10\repoch 1: 100%|####| 10/10\n")
            handle.write(b"bad \xff bytes\n")
            handle.write(b"y" * (20 * 1024 * 1024) + b"\n")
            handle.write(b"after the long one\n")
        screen.logs.show(screen.shown)
        pane = screen.query_one(LogPane)
        await pilot.press("g")
        view = pane.query_one(BrowseLog)
        await log.until(lambda: pane.browsing and shown(view)[4] == "after the long one")
        rows = shown(view)
        assert rows[:3] == ["windows line", "epoch 1: 100%|####| 10/10", "bad \ufffd bytes"]
        assert rows[3].startswith("yyyy")  # cut to the view; the line itself to 16 KiB + a marker
        assert "line 1 of 5" in str(pane.query_one("#log-status").render())
        mirror.write_bytes(b"a new start\n")  # truncated and rewritten while browsed
        await log.until(lambda: shown(view)[0] == "a new start")
        status = str(pane.query_one("#log-status").render())
        assert "line 1 of 1" in status and "truncated or replaced" in status


async def test_the_gpu_log_is_browsed_searched_and_filtered_in_the_interactive_ui(
    tmp_path: Path,
) -> None:
    """The gpu source, in the interactive window: the same whole-log view as train's."""
    app = make_app(tmp_path, read_only=False)
    log = MessageLog()
    async with app.run_test(size=(120, 40), message_hook=log.hook) as pilot:
        await settled(app)
        screen = app.screen
        assert isinstance(screen, MainScreen) and screen.shown is not None
        mirror = screen.paths.mirror_log(screen.shown.id, "gpu")
        samples = [
            f"2026-12-02 10:{i // 60 % 60:02d}:{i % 60:02d}, 0, {i % 100} %" for i in range(9000)
        ]
        samples[4321] = "2026-12-02 11:12:01, 0, 100 %, 81559 MiB, THROTTLED"
        mirror.write_text("\n".join(samples) + "\n")
        screen.logs.show(screen.shown)
        pane = screen.query_one(LogPane)
        await pilot.press("3")
        await log.until(lambda: pane.source == "gpu" and pane.log_for("gpu").line_count > 0)
        await pilot.press("g")
        view = pane.query_one(BrowseLog)
        await log.until(lambda: pane.browsing and shown(view)[0] == samples[0])
        assert "gpu: line 1 of 9,000" in str(pane.query_one("#log-status").render())
        await pilot.press("slash", *"throttled", "enter")
        await log.until(lambda: pane.match_line == 4321 and shown(view)[3] == samples[4321])
        await pilot.press("escape", "ampersand", *", 99 %", "enter")
        await log.until(lambda: view.filtered and view.total == 90)
        assert "gpu: row" in str(pane.query_one("#log-status").render())
        await pilot.press("f")
        await log.until(lambda: not pane.browsing and pane.following and pane.source == "gpu")
