"""textual 8.2.8's Log stops repainting once max_lines is reached; FollowLog must not."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log

from widgets.follow_log import FollowLog


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


def test_a_tail_far_behind_jumps_to_the_end_at_a_line_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cockpit.store.mirror_tail import MirrorTail

    path = tmp_path / "train.log"
    path.write_bytes(b"".join(b"line %07d %s\n" % (i, b"x" * 80) for i in range(100_000)))
    tail = MirrorTail(path)
    first = tail.read_new(cap=64 * 1024)  # no skipping asked: from the start, capped
    assert first[0].startswith("line 0000000") and tail.skipped == 0
    lines = tail.read_new(cap=64 * 1024, skip_behind=1024 * 1024)
    assert tail.skipped > 0 and lines[-1].startswith("line 0099999")
    assert all(line.startswith("line ") and len(line) == 93 for line in lines)  # whole lines
    assert tail.offset == path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b"one more\n")
    assert tail.read_new(skip_behind=1024 * 1024) == ["one more"] and tail.skipped == 0


class TwoLogs(App[None]):
    def compose(self) -> ComposeResult:
        yield Log(id="plain")
        yield FollowLog(id="follow")


async def test_follow_log_measures_widths_as_log_does_without_a_thread() -> None:
    """FollowLog measures new lines in place (Log uses a thread worker per batch): the width
    it finds is Log's for ASCII, tabs, wide characters and control characters."""
    app = TwoLogs()
    async with app.run_test(size=(60, 20)):
        plain, follow = app.query_one("#plain", Log), app.query_one("#follow", FollowLog)
        for batch in (
            ["short", "x" * 70],
            ["a\tb\tc" * 20],
            ["日本語のログ" * 15],
            ["e\x1b[0m" * 30],
        ):
            plain.write_lines(batch)
            follow.write_lines(batch)
            await app.workers.wait_for_complete()
            assert follow._width >= plain._width, batch
            assert follow._width <= plain._width + 30, batch  # ESC counts one cell at most
        assert not [w for w in app.workers if w.node is follow]  # no thread worker of its own


def test_a_plan_row_shows_its_verdict_instead_of_done() -> None:
    from rich.style import Style

    from widgets.hypothesis_list import HypothesisList, HypothesisRow

    quiet = Style()
    plain = HypothesisList._row_prompt(HypothesisRow("p:H1", "H1", "an idea", "done"), quiet)
    judged = HypothesisList._row_prompt(
        HypothesisRow("p:H1", "H1", "an idea", "done", verdict="rejected"), quiet
    )
    assert "done" in plain.plain and "rejected" in judged.plain and "done" not in judged.plain
    assert judged.plain.startswith("✓ H1")
