"""The log pane: one tab per source, each a `FollowLog` fed in batches.

It holds no file handles: the application tails the mirror and hands over lines in batches
(about ten a second). Scrolling back stops following; `follow()` resumes it. A filter shows only
the lines containing a string.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Input, Static, Tab, Tabs

from widgets.browse_log import BrowseLog
from widgets.follow_log import MAX_LINES, FollowLog
from widgets.text_update import set_text

SOURCES = ("train", "onstart", "gpu")


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > Tabs { height: 2; }
    LogPane Tab { color: $text-muted; }  /* Textual's 50% is below 4.5:1 */
    LogPane Tab.-active { color: $foreground; text-style: bold; }
    LogPane > #log-status { height: 1; padding: 0 1; color: $text-muted; }
    LogPane > Input { display: none; height: 3; }
    LogPane > ContentSwitcher { height: 1fr; }
    LogPane FollowLog { height: 1fr; }
    """

    source: reactive[str] = reactive("train")
    """The source whose log is shown."""
    filter_text: reactive[str] = reactive("")
    """Only lines containing this are shown ('' shows all)."""

    def compose(self) -> ComposeResult:
        yield Tabs(*(Tab(name, id=f"tab-{name}") for name in SOURCES), id="log-tabs")
        yield Static("", id="log-status")
        yield Input(
            placeholder="filter: only the lines matching a regex or text, of the whole log "
            "(enter; empty: every line)",
            id="log-filter",
        )
        yield Input(
            placeholder="search: a regex or text; lower case matches any case (enter, esc)",
            id="log-search",
        )
        with ContentSwitcher(initial="log-train", id="log-switcher"):
            for name in SOURCES:
                yield FollowLog(max_lines=MAX_LINES, id=f"log-{name}", highlight=False)
            yield BrowseLog(id="log-browse")

    def log_for(self, source: str) -> FollowLog:
        return self.query_one(f"#log-{source}", FollowLog)

    BINDINGS = [
        Binding("n", "next_match(True)", "next match", show=False),
        Binding("N", "next_match(False)", "previous match", show=False),
        Binding("escape", "close_search", "close search", show=False),
    ]

    search_query = ""
    """The search shown ('' when none): its matches are highlighted, n/N move between them."""
    match_line: int | None = None
    search_status = ""

    class SearchAsked(Message):
        """Find `query`'s next match after line `from_line` (the previous one before it)."""

        def __init__(self, query: str, from_line: int, forward: bool) -> None:
            self.query, self.from_line, self.forward = query, from_line, forward
            super().__init__()

    browsing: reactive[bool] = reactive(False)
    """The pane shows the whole file by line number (`BrowseLog`) instead of its tail."""
    browse_note = ""
    mark_note = ""
    """What the marked line is ("the failure line (1,234)"), said in the status."""

    def watch_source(self, source: str) -> None:
        self.browsing = False
        if self.filter_text:  # a filter is of one log: another log shows every line
            self.filter_text = ""
            self.post_message(self.FilterChanged(""))
        self.query_one(ContentSwitcher).current = f"log-{source}"
        self.query_one(Tabs).active = f"tab-{source}"
        self.update_status()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if event.tab.id:
            self.source = event.tab.id.removeprefix("tab-")

    def append(self, source: str, lines: list[str]) -> None:
        if not lines:
            return
        self.log_for(source).write_lines(lines)
        if source == self.source:
            self.update_status()

    def reset(self, contents: dict[str, list[str]]) -> None:
        """Replace every source's lines (another run selected)."""
        for source in SOURCES:
            log = self.log_for(source)
            log.clear()
            lines = contents.get(source, [])
            log.auto_scroll = True
            log.write_lines(lines[-MAX_LINES:])
            # The first layout may come after this: scroll again once the size is known.
            self.call_after_refresh(log.scroll_end, animate=False, immediate=True)
        self.update_status()

    @property
    def following(self) -> bool:
        """The shown log follows its tail: its newest line is on screen and stays there."""
        if self.browsing:  # wrapped, the tail is followed in the whole-log view
            view = self.query_one(BrowseLog)
            return self.wrap and view.stick_to_end and not view.filtered
        return self.log_for(self.source).auto_scroll

    wrap = False
    """Long lines go on over several rows (`w`); the tail is then followed in the
    whole-log view, which wraps (the tail view scrolls sideways)."""

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap
        self.query_one(BrowseLog).set_wrap(wrap)
        self.update_status()

    def follow(self) -> None:
        self.end_browse()
        self.log_for(self.source).follow()
        self.update_status()

    # ---- browse mode: the whole file by line number ----------------------------------------

    def end_browse(self) -> None:
        """Back to the tail view (as it was: following or not)."""
        self.mark_note = ""
        if self.browsing:
            self.browsing = False
            self.query_one(ContentSwitcher).current = f"log-{self.source}"

    def browse(self, line: int, back: int | None = None, mark: str = "") -> None:
        """Show the whole file from `line` (0-based) on — or, with `back`, from that many
        lines before its end (the count is not known here); the owner reads the lines.
        With `mark` (what the line is), the line is marked and the status names it."""
        view = self.query_one(BrowseLog)
        if not self.browsing or view.filtered:
            self.browsing = True
            view.clear(filtered=False)
            self.query_one(ContentSwitcher).current = "log-browse"
        self.mark_note = mark
        if not mark:
            view.marked = None
        if back is not None:
            view.go_back(back)
        else:
            view.go_to(line, mark=bool(mark))
        view.focus()
        self.update_status()

    def browse_tail(self) -> None:
        """The whole-log view at its end, following it (the wrapped tail)."""
        self.browse(0)
        view = self.query_one(BrowseLog)
        view.stick_to_end = True
        view.go_back(0)
        self.update_status()

    def browse_filtered(self) -> None:
        """Only the lines that match the filter, of the whole file, from its last match on
        (and new matches as they come, while the view stays at the end)."""
        view = self.query_one(BrowseLog)
        self.browsing = True
        view.clear(filtered=True)
        self.query_one(ContentSwitcher).current = "log-browse"
        view.go_to(0)
        view.focus()
        self.update_status()

    def browse_rows(
        self, first: int, lines: list[str], total: int, note: str, complete: bool = True
    ) -> None:
        if not self.browsing:
            return
        view = self.query_one(BrowseLog)
        view.set_total(total, final=complete)
        view.hold(first, lines)
        self.browse_note = note
        self.update_status()

    def on_browse_log_moved(self, event: BrowseLog.Moved) -> None:
        event.stop()
        self.update_status()

    def on_follow_log_follow_changed(self, event: FollowLog.FollowChanged) -> None:
        event.stop()
        self.update_status()

    def update_status(self) -> None:
        """One line, the facts first (where, the search's result), the hints last: a narrow
        pane cuts hints, never the match count."""
        if self.browsing:
            view = self.query_one(BrowseLog)
            shown = min(view.total, view.first_shown + 1)
            if self.filter_text:
                parts = [f"{self.source}: row {shown:,} of {view.total:,} matching lines"]
            else:
                parts = [f"{self.source}: line {shown:,} of {view.total:,}"]
            if self.search_query:
                parts.append(f"/{self.search_query}: {self.search_status}")
            elif self.mark_note:
                parts.append(f"▶ marked: {self.mark_note}")
            if self.browse_note:
                parts.append(self.browse_note)
            if self.following:
                parts.append("following, wrapped")
            if self.filter_text:
                parts.append("f: every line, following")
            elif not self.following:
                parts.append("End/G/f: the tail")
            set_text(self.query_one("#log-status", Static), "  ·  ".join(parts))
            return
        log = self.log_for(self.source)
        count = log.line_count
        if count >= MAX_LINES:  # the pane holds the tail only: never call it the whole log
            parts = [f"{self.source}: the last {count:,} lines (Home or scrolling up: all)"]
        else:
            parts = [f"{self.source}: {count:,} line{'' if count == 1 else 's'}"]
        parts.append("following" if self.following else "paused — f to follow")
        if self.search_query:
            parts.append(f"/{self.search_query}: {self.search_status}")
        set_text(self.query_one("#log-status", Static), "  ·  ".join(parts))

    # ---- search ------------------------------------------------------------------------------

    def open_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True  # inline: shown (and focusable) at once
        box.value = self.search_query
        self.screen.set_focus(box)  # at once: keys typed right after the key go to it

    def _position(self) -> int:
        """The line the search starts after: the match shown, the view's top line, or (at
        the tail) the end, so the search wraps to the file's first match."""
        if self.match_line is not None:
            return self.match_line + 1
        return self.query_one(BrowseLog).top if self.browsing else 1 << 62

    def action_next_match(self, forward: bool) -> None:
        if not self.search_query:
            return
        line = self.match_line
        start = (line + 1 if forward else line) if line is not None else self._position()
        self.search_status = "searching…"
        self.update_status()
        self.post_message(self.SearchAsked(self.search_query, start, forward))

    def action_close_search(self) -> None:
        """Esc: the search closes, the view stays where it is."""
        for box in self.query(Input):
            box.display = False
        self.search_query, self.match_line, self.search_status = "", None, ""
        view = self.query_one(BrowseLog)
        view.pattern, view.marked = None, None
        view.refresh()
        (view if self.browsing else self.log_for(self.source)).focus()
        self.update_status()

    def found(self, line: int | None, wrapped: bool, note: str, pattern: object) -> None:
        if line is None:
            self.search_status = f"no match for {self.search_query!r}" + (
                f" ({note})" if note else ""
            )
            self.update_status()
            return
        self.match_line = line
        self.search_status = ("wrapped around · " if wrapped else "") + "counting matches…"
        if note:
            self.search_status += f" · {note}"
        self.browse(line)
        view = self.query_one(BrowseLog)
        view.pattern = pattern  # type: ignore[assignment]
        view.go_to(line, mark=True)
        self.update_status()

    def counted(self, matches: int, k: int | None, done: bool) -> None:
        if not done:
            self.search_status = f"counting matches: {matches:,} so far"
        elif k is not None:
            self.search_status = f"match {k:,} of {matches:,} (n/N, esc)"
        else:
            self.search_status = f"{matches:,} matching lines (n/N, esc)"
        self.update_status()

    def open_filter(self) -> None:
        box = self.query_one("#log-filter", Input)
        box.display = True  # inline: shown (and focusable) at once
        box.value = self.filter_text
        self.screen.set_focus(box)  # at once: keys typed right after the key go to it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.display = False
        if event.input.id == "log-search":
            query = event.value.strip()
            if not query:
                self.action_close_search()
                return
            self.search_query, self.match_line = query, None
            self.search_status = "searching…"
            self.post_message(self.SearchAsked(query, self._position(), True))
            self.update_status()
            return
        self.filter_text = event.value.strip()
        self.post_message(self.FilterChanged(self.filter_text))

    class FilterChanged(Message):
        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()
