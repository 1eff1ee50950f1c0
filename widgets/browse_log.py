"""Browsing a whole log: any line of a file of millions, rendered only for what is on screen.

`BrowseLog` holds no file: it knows how many lines there are (`total`) and the lines of a
window around the view that its owner read for it (in a thread, by number, from the sparse
line index). When the view leaves that window it calls `want` (its owner's reader, a direct
call: a message would wait its turn behind the frame being drawn); until the lines arrive the
rows show a placeholder, never another line. A line longer than the view scrolls sideways,
or — with `wrap` — goes on over as many rows as it needs (the view still moves by lines: its
top is a line, and at the end the last line is shown whole, the rows laid out from the bottom
up). The search's match is highlighted and its line marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

MARGIN = 2
"""Screens read above and below the view, so scrolling a page shows lines at once."""
PLACEHOLDER = "…"


@dataclass(frozen=True)
class Row:
    """A row on screen, wrapped: the line it shows and the cell its piece starts at."""

    line: int
    start: int


class BrowseLog(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    /* The horizontal scrollbar always there (never there when wrapped): one that came and
       went with the width of the lines held would move the last row by one. */
    BrowseLog { height: 1fr; background: $surface; overflow-x: scroll; }
    BrowseLog.-wrap { overflow-x: hidden; }
    BrowseLog > .browse-log--match { background: $warning 40%; text-style: bold; }
    BrowseLog > .browse-log--marked { background: $boost; }
    """
    COMPONENT_CLASSES = {"browse-log--match", "browse-log--marked"}

    class Tail(Message):
        """The user went to the end (End/G): the pane follows again."""

    class Moved(Message):
        """The view moved (the pane's "line N of M" changes)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.total = 0
        self.first = 0
        """The number of the first line held."""
        self.held: list[str] = []
        self.width_seen = 0
        self.pattern: re.Pattern[str] | None = None
        self.marked: int | None = None
        """The line of the current match (or the failure line)."""
        self._asked: tuple[int, int] | None = None
        self._pending_top: int | None = None
        """A line asked for before the line count reached it (the index still growing)."""
        self.stick_to_end = False
        """New lines (a filter's new matches) keep the view at the end until it scrolls up."""
        self._pending_back: int | None = None
        """Lines before the end to show once the count is known (`go_back`)."""
        self.want: Callable[[int, int], None] = lambda first, count: None
        """Asks the owner for lines `first` … `first + count - 1`; they come with `hold`."""
        self._rows: tuple[tuple[object, ...], list[Row]] | None = None
        """The wrapped layout of the rows on screen, and what it was made from."""

    wrap = False
    """Long lines go on over several rows instead of scrolling sideways."""

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap
        self.set_class(wrap, "-wrap")
        self._rows = None
        self.scroll_to(x=0, animate=False, immediate=True)
        self._resize_virtual()
        self.refresh()

    @property
    def _height(self) -> int:
        """Rows of lines on screen (a horizontal scrollbar takes one); before the view is laid
        out, the screen's (a window read for it is then large enough at once)."""
        height = self.scrollable_content_region.height
        return height if height > 0 else max(1, self.app.size.height)

    @property
    def _width(self) -> int:
        """Cells of a row on screen (the vertical scrollbar takes some)."""
        return max(1, self.scrollable_content_region.width)

    def _resize_virtual(self) -> None:
        width = 0 if self.wrap else max(self.width_seen, self.size.width)  # wrapped: no sideways
        self.virtual_size = Size(width, self.total)

    def clear(self, filtered: bool) -> None:
        """Another file (or a filter's rows): nothing held, nothing known of it yet."""
        self.held, self.pattern, self.marked, self.total = [], None, None, 0
        self._total_final, self._pending_back, self._pending_top = False, None, None
        self._asked, self._rows = None, None
        self.filtered = self.stick_to_end = filtered

    # ---- what the owner gives ----------------------------------------------------------------

    def set_total(self, total: int, final: bool = True) -> None:
        """The file has `total` lines (`final` False: at least, it is still being counted)."""
        self._total_final = final
        if total != self.total or (final and self._pending_back is not None):
            self.total = total
            self._resize_virtual()
            self._resolve_back()
            if self.stick_to_end:
                self._pending_top = max(0, total - self._height)
            if self._pending_top is not None and total > self._pending_top:
                top, self._pending_top = self._pending_top, None
                self.scroll_to(y=top, animate=False, immediate=True, force=True)
            self._ask()
            self.refresh()

    def hold(self, first: int, lines: list[str]) -> None:
        """The lines read for the window starting at `first`."""
        self.first, self.held = first, lines
        self._asked = None
        widest = max((len(line) for line in lines), default=0)
        if widest > self.width_seen:
            self.width_seen = widest
            self._resize_virtual()
        self.refresh()

    def go_to(self, line: int, mark: bool = False) -> None:
        """Put `line` near the top of the view (a few lines of context above it)."""
        if mark:
            self.marked = line
        top = max(0, line - 3)
        self._pending_top = top if top > max(0, self.total - 1) else None
        self.scroll_to(y=top, animate=False, immediate=True, force=True)
        if self._pending_top is not None:  # ask for the window there at once
            self._asked = None
            self.want(top, (2 * MARGIN + 1) * self._height)
        self._ask()
        self.refresh()

    _total_final = False

    def _resolve_back(self) -> None:
        """Place a `go_back` asked before the line count was final or the view laid out."""
        back = self._pending_back
        if back is None or not self._total_final or self.scrollable_content_region.height <= 0:
            return
        self._pending_back = None
        top = max(0, self.total - back - self._height)
        self.scroll_to(y=top, animate=False, immediate=True, force=True)
        self._ask()

    def go_back(self, back: int) -> None:
        """Show the lines just before the last `back` ones (scrolling up out of the tail)."""
        self._pending_back = back
        self._asked = None
        self._resolve_back()
        if self._pending_back is not None:  # not yet: the lines near the end are asked for
            self._ask()

    @property
    def top(self) -> int:
        return int(self.scroll_y)

    # ---- scrolling ---------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self.stick_to_end = False
        elif self.wrap and not self.filtered and old_value < new_value >= self.max_scroll_y:
            self.stick_to_end = True  # scrolled down to the end: following again
        self._ask()
        self.post_message(self.Moved())

    def on_resize(self, event: events.Resize) -> None:
        self._resize_virtual()
        self._resolve_back()
        if self.stick_to_end:  # (its end was placed with the screen's height before layout)
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        self._ask()

    def action_scroll_end(self) -> None:
        if self.stick_to_end or self.filtered or self.wrap:
            self.stick_to_end = True
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
            return
        self.post_message(self.Tail())

    filtered = False
    """The rows are a filter's matches: End goes to the last of them, not to the tail."""

    # A log is paged like less does it: at once, not animated (a page of lines that slides
    # is read later, and every frame of the slide asks for lines).
    def action_scroll_home(self) -> None:
        self.scroll_home(animate=False, immediate=True)

    def action_page_down(self) -> None:
        if not self.wrap:
            self.scroll_page_down(animate=False)
            return
        rows = self.wrapped_rows()  # the next page starts with the last line on screen
        last = rows[-1].line if rows else self.top
        self.scroll_to(y=max(last, self.top + 1), animate=False, immediate=True)

    def action_page_up(self) -> None:
        if not self.wrap:
            self.scroll_page_up(animate=False)
            return
        height, width, used, top = self._height, self._width, 0, self.top
        while top > 0:  # as many lines above as fill a screen
            used += self._pieces(self._text(top - 1), width)
            if used > height:
                break
            top -= 1
        self.scroll_to(y=min(top, self.top - 1) if self.top else 0, animate=False, immediate=True)

    def action_scroll_down(self) -> None:
        self.scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.scroll_up(animate=False)

    def _ask(self) -> None:
        """Ask for the window around the view when the view is not inside the one held."""
        height = self._height
        top = self.top
        bottom = min(self.total, top + height)
        if self.held and self.first <= top and bottom <= self.first + len(self.held):
            return
        first = max(0, top - MARGIN * height)
        count = (2 * MARGIN + 1) * height
        if self._asked != (first, count):
            self._asked = (first, count)
            self.want(first, count)

    # ---- rendering ---------------------------------------------------------------------------

    def _text(self, number: int) -> str:
        at = number - self.first
        return self.held[at] if 0 <= at < len(self.held) else PLACEHOLDER

    @staticmethod
    def _pieces(text: str, width: int) -> int:
        return max(1, -(-cell_len(text) // width))

    @property
    def first_shown(self) -> int:
        """The line of the first row on screen (wrapped at the end, not always the top)."""
        if self.wrap:
            rows = self.wrapped_rows()
            return rows[0].line if rows else self.top
        return self.top

    def wrapped_rows(self) -> list[Row]:
        """The rows on screen, wrapped: from the top line down — or, at the end, from the
        last line up, so the last line is always shown whole."""
        height, width = self._height, self._width
        key = (self.top, height, width, self.total, self.first, len(self.held), id(self.held))
        if self._rows is not None and self._rows[0] == key:
            return self._rows[1]
        rows: list[Row] = []
        if self.top >= self.max_scroll_y and self.total:
            number = self.total - 1
            while number >= 0 and len(rows) < height:
                pieces = self._pieces(self._text(number), width)
                rows[:0] = [Row(number, k * width) for k in range(pieces)][-(height - len(rows)) :]
                number -= 1
        else:
            number = self.top
            while number < self.total and len(rows) < height:
                pieces = self._pieces(self._text(number), width)
                rows += [Row(number, k * width) for k in range(pieces)][: height - len(rows)]
                number += 1
        self._rows = (key, rows)
        return rows

    def render_line(self, y: int) -> Strip:
        width = self._width
        if self.wrap:
            rows = self.wrapped_rows()
            if y >= len(rows):
                return Strip.blank(width, self.rich_style)
            number, start = rows[y].line, rows[y].start
        else:
            number, start = self.top + y, int(self.scroll_x)
        if number >= self.total:
            return Strip.blank(width, self.rich_style)
        base = self.rich_style
        if number == self.marked:
            base = base + self.get_component_rich_style("browse-log--marked")
        segments = self._segments(self._text(number), base)
        strip = Strip(segments).crop(start, start + width)
        return strip.extend_cell_length(width, base)

    def _segments(self, text: str, base: Style) -> list[Segment]:
        if self.pattern is None:
            return [Segment(text, base)]
        match = self.get_component_rich_style("browse-log--match")
        segments, at = [], 0
        for found in self.pattern.finditer(text):
            if found.end() == found.start():
                continue
            segments.append(Segment(text[at : found.start()], base))
            segments.append(Segment(found.group(), base + match))
            at = found.end()
        segments.append(Segment(text[at:], base))
        return segments
