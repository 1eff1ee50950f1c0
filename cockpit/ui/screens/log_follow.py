"""Following the shown run's mirrored logs into the log pane (both modes): the UI's side of
the `LogFeed` (which reads the files in its thread) and the view actions on the pane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.ui.browse_feed import BrowseCount, BrowseFeed, BrowseFound, BrowseRows
from cockpit.ui.log_feed import LogBacklog, LogFeed, LogLines
from widgets.browse_log import BrowseLog
from widgets.log_pane import LogPane

if TYPE_CHECKING:
    from cockpit.core.records import RunRecord


class LogFollower:
    """Follows one run's mirrored logs into the log pane: the screen owns one, tells it which
    run is shown, and hands it the feed's messages; those of a run no longer shown (an older
    generation) are dropped."""

    def __init__(self, pane: LogPane, feed: LogFeed, browser: BrowseFeed) -> None:
        self.pane = pane
        self.feed = feed
        self.browser = browser
        """Reads any line of the shown run's logs by number (the pane's browse mode)."""
        pane.query_one(BrowseLog).want = self.wanted
        self.run: RunRecord | None = None
        self.generation = 0

    def show(self, run: RunRecord | None) -> None:
        """Follow `run` (or nothing) from its backlog on."""
        self.run = run
        self.generation += 1
        self.pane.end_browse()
        self.feed.show(self.generation, run.id if run else None)
        self.browser.show(self.generation, run.id if run else None)

    def follow(self) -> None:
        """Back to the end of the log."""
        self.browser.idle()
        if self.pane.filter_text:  # following is every line's
            self.pane.filter_text = ""
            self.browser.filter(self.pane.source, "")
        if self.pane.wrap and self.run is not None:
            self.pane.browse_tail()
        else:
            self.pane.follow()

    def toggle_wrap(self) -> None:
        """Long lines wrapped or scrolled sideways; following goes on in either."""
        pane = self.pane
        following = pane.following
        pane.set_wrap(not pane.wrap)
        if following:
            self.follow()
        elif pane.wrap and not pane.browsing and self.run is not None:
            # Scrolled up in the tail view (which does not wrap): the same lines, wrapped.
            log = pane.log_for(pane.source)
            pane.browse(0, back=max(0, log.line_count - int(log.scroll_y) - log.size.height))

    def browse(self, line: int, back: int | None = None) -> None:
        """The whole file from `line` on (Home: the first), or from `back` lines before its
        end (scrolling up out of the tail)."""
        if self.run is not None:
            self.pane.browse(line, back)

    def wanted(self, first: int, count: int) -> None:
        if self.pane.browsing:
            self.browser.want(self.pane.source, first, count)

    def rows(self, message: BrowseRows) -> None:
        if message.generation == self.generation and message.source == self.pane.source:
            self.pane.browse_rows(
                message.first, message.lines, message.total, message.note, message.complete
            )

    def filter(self, text: str) -> None:
        """Only the lines of the whole log that match `text` ('' every line, following)."""
        self.browser.filter(self.pane.source, text)
        if text and self.run is not None:
            self.pane.browse_filtered()
        elif not text and self.pane.browsing:
            self.follow()

    def search(self, query: str, from_line: int, forward: bool) -> None:
        if self.run is not None:
            self.browser.search(self.pane.source, query, from_line, forward)

    def found(self, message: BrowseFound) -> None:
        if self._about_now(message.generation, message.source, message.query):
            from cockpit.store.log_search import compile_query

            pattern = compile_query(message.query).text_pattern
            self.pane.found(message.line, message.wrapped, message.note, pattern)

    def counted(self, message: BrowseCount) -> None:
        if self._about_now(message.generation, message.source, message.query):
            self.pane.counted(message.matches, message.k, message.done)

    def _about_now(self, generation: int, source: str, query: str) -> bool:
        pane = self.pane
        return (generation, source, query) == (self.generation, pane.source, pane.search_query)

    def jump_to_failure(self, run: RunRecord | None, offset: int | None) -> bool:
        """Show the line that decided `run`'s failure, marked, in the whole log (read around
        `offset`, the byte where it starts, at once when the store has it); False when the
        run has none."""
        if run is None or not run.failure_source or not run.failure_line_no:
            return False
        if self.run is None or run.id != self.run.id:
            self.show(run)
        line = run.failure_line_no - 1
        self.pane.source = run.failure_source
        self.browser.jump(run.failure_source, line, offset)
        self.pane.browse(line, mark=f"the failure line ({line + 1:,})")
        return True

    # ---- the feed's messages ----------------------------------------------------------------

    def backlog(self, message: LogBacklog) -> None:
        self.feed.applied += 1
        if message.generation == self.generation:
            self.pane.reset(message.contents)

    def lines(self, message: LogLines) -> None:
        self.feed.applied += 1
        if message.generation == self.generation:
            for source, lines in message.lines.items():
                self.pane.append(source, lines)
