"""The log pane's tail: a Textual `Log` of the last `MAX_LINES` lines that keeps following its
newest line through batches, resizes and layout changes until the user scrolls away, and hands
over to the whole-log view (`BrowseLog`) when the user goes above what it holds."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.message import Message
from textual.widgets import Log

MAX_LINES = 5000
"""Lines the tail holds; the whole log is read by number (`BrowseLog`)."""


class FollowLog(Log):
    """A `Log` that follows its tail until the user scrolls away, whatever the layout does.

    `auto_scroll` is the pane's "following": it turns off when the user scrolls up (wheel, keys,
    scrollbar) and on again at `follow()` or when they scroll back down to the last line. While
    it is on, the newest line is on screen: after every batch, and after every resize (a smaller
    terminal, a tmux split, a header that grew a line) — `Log` itself scrolls only when the view
    *was* at the end, and a resize leaves it short of the end for good.

    It also repaints after every batch: textual 8.2.8's `Log` stops repainting once `max_lines`
    is reached (new lines are kept but the old ones stay on screen).
    """

    class FollowChanged(Message):
        """Following turned on or off (the pane's status says which)."""

    class History(Message):
        """The user wants lines before those held here: the file's first (`back` None: Home),
        or, scrolling up past the top of a full pane, the lines before its first one, which
        is `back` lines from the end of the file."""

        def __init__(self, back: int | None = None) -> None:
            self.back = back
            super().__init__()

    def action_scroll_home(self) -> None:
        self.post_message(self.History())

    def _older(self) -> bool:
        """At the top of a full pane (older lines exist): go on into the whole log."""
        if self.scroll_y > 0 or self.line_count < MAX_LINES:
            return False
        self.post_message(self.History(back=self.line_count))
        return True

    def action_page_up(self) -> None:
        if not self._older():
            super().action_page_up()

    def action_scroll_up(self) -> None:
        if not self._older():
            super().action_scroll_up()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._older():
            event.stop()
            return
        super()._on_mouse_scroll_up(event)

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> FollowLog:
        super().write_lines(lines, False if scroll_end is None else scroll_end)
        if scroll_end is None and self.auto_scroll and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        return self

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # A clamp after the view grew lands on the end: only a move short of it is the user's.
        at_end = new_value >= self.max_scroll_y
        if new_value < old_value and not at_end:
            self._set_following(False)
        elif new_value > old_value and at_end:
            self._set_following(True)

    def _set_following(self, following: bool) -> None:
        if following != self.auto_scroll:
            self.auto_scroll = following
            self.post_message(self.FollowChanged())

    def follow(self) -> None:
        self._set_following(True)
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def on_resize(self, event: events.Resize) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            # The scrollbars settle after this layout (a horizontal one takes a line): again.
            self.call_after_refresh(self._keep_following)

    def _keep_following(self) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        """Measure new lines in place rather than in `Log`'s thread worker.

        `Log` starts a thread task per batch that expands, escapes and measures every line;
        under a flood that is ten thread hand-offs a second whose temporaries, interleaved with
        the app's own objects, left the allocator's arenas fragmented (+20 MiB after 1M
        lines). An ASCII batch without tabs is measured by length (control characters count
        one cell at most, so never too narrow); anything else as `Log` measures it.
        """
        if not lines:
            return
        joined = "".join(lines)
        if joined.isascii() and "\t" not in joined:
            width = max(map(len, lines))
        else:
            process = self._process_line
            width = max(cell_len(process(line)) for line in lines)
        self._update_maximum_width(updates, width)
