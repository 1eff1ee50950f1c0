"""Reading any part of the shown run's mirrored logs for the log pane's browse mode, off the
event loop: the pane asks for lines by number (`want`) and the feed's thread answers with
`BrowseRows`, read through a sparse line index (`cockpit.store.line_index`) kept current as the
file grows. It has a thread of its own, apart from the tail's (`log_feed`): indexing a 500 MB
log never holds the followed lines back.

Every message carries the generation of the screen's request, so answers about a run no longer
shown are dropped on arrival.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from cockpit.core.paths import ProjectPaths
from cockpit.store.line_index import LineIndex, lines_around
from cockpit.store.log_search import FilterScan, compile_query, find, matching_lines
from cockpit.ui.log_feed import FeedMessage
from widgets.log_pane import SOURCES

if TYPE_CHECKING:
    from cockpit.ui.screens.log_follow import LogFollower

INDEX_STEP = 64 * 1024 * 1024
"""Bytes indexed between two looks at new requests (a big log answers while it is indexed)."""
AHEAD_STEP = 16 * 1024 * 1024
"""Bytes indexed ahead (before the log is browsed) between two looks at new requests."""
FIRST_STEP = 4 * 1024 * 1024
"""The first step of a file's index: the first rows asked for come after it at once."""
TICK_S = 0.25
"""How often a browsed log is looked at for growth."""
RESET_NOTE = "the log was truncated or replaced: read again from its start"
RESET_SAID_S = 10.0
"""How long the pane says so."""


MATCHES_KEPT = 1_000_000
"""Matching line numbers kept for "match k of n" (beyond, n is still counted)."""


class BrowseRows(FeedMessage):
    """Lines `first` … of `source`, and the file's line count as indexed."""

    def __init__(
        self, generation: int, source: str, first: int, lines: list[str], total: int, note: str,
        complete: bool = True,
    ) -> None:  # fmt: skip
        self.generation = generation
        self.source, self.first, self.lines, self.total = source, first, lines, total
        self.complete = complete
        """`total` counts the whole file (False while it is still being indexed)."""
        self.note = note
        """`the log was truncated: read again`, `indexing: 41%`, or ''."""
        super().__init__()

    def deliver(self, logs: LogFollower) -> None:
        logs.rows(self)


class BrowseFound(FeedMessage):
    """Where the search's next (or previous) match is: `line` None when there is none."""

    def __init__(
        self, generation: int, source: str, query: str, line: int | None, wrapped: bool,
        note: str,
    ) -> None:  # fmt: skip
        self.generation, self.source, self.query = generation, source, query
        self.line, self.wrapped, self.note = line, wrapped, note
        super().__init__()

    def deliver(self, logs: LogFollower) -> None:
        logs.found(self)


class BrowseCount(FeedMessage):
    """How many lines match (`done` False while counting: `matches` so far), and which of them
    the match shown is (`k`, 1-based; None when not kept)."""

    def __init__(
        self, generation: int, source: str, query: str, matches: int, k: int | None, done: bool
    ) -> None:
        self.generation, self.source, self.query = generation, source, query
        self.matches, self.k, self.done = matches, k, done
        super().__init__()

    def deliver(self, logs: LogFollower) -> None:
        logs.counted(self)


@dataclass(frozen=True)
class SearchAsk:
    source: str
    query: str
    from_line: int
    forward: bool
    serial: int


@dataclass(frozen=True)
class Island:
    """Lines read around a known line start (the failure line's stored byte offset) before
    the index reaches them: shown at once, while the index catches up (then it answers)."""

    path: Path
    first: int
    lines: list[str]

    @property
    def end(self) -> int:
        return self.first + len(self.lines)

    def holds(self, first: int, count: int) -> bool:
        return self.first <= first and first + count <= self.end


AROUND = 300
"""Lines read on each side of a jump's line before the index reaches it."""


class _Superseded(Exception):
    """A newer search was asked for while counting this one's matches."""


class BrowseFeed:
    """Serves the pane's browse requests in its own thread; see the module docstring."""

    def __init__(self, paths: ProjectPaths, post: Callable[[Message], object]) -> None:
        self.paths = paths
        self.post = post
        self._lock = threading.Lock()
        self._run: tuple[int, str | None] = (0, None)
        self._wanted: tuple[str, int, int] | None = None
        """(source, first, count) the pane shows now; None while it is not browsing."""
        self._search: SearchAsk | None = None
        self._filter: tuple[str, str] | None = None
        """(source, query) of the filter the pane shows; None when it shows every line."""
        self._scan: FilterScan | None = None
        self._run_id: str | None = None
        self._indexes: dict[Path, LineIndex] = {}
        self._sent: tuple[object, ...] = ()
        self._island: Island | None = None
        self._said_reset_until = 0.0
        self._jump: tuple[str, int, int] | None = None
        """(source, line, byte offset) of a line to show before the index reaches it."""
        self._serial = 0
        self._counted: tuple[object, ...] = ()
        self._matches = array("l")
        self._total = 0
        self._wake = threading.Event()
        self._stop = threading.Event()

    # ---- asked from the UI thread -----------------------------------------------------------

    def show(self, generation: int, run_id: str | None) -> None:
        with self._lock:
            self._run = (generation, run_id)
            self._wanted = None
        self._wake.set()

    def want(self, source: str, first: int, count: int) -> None:
        with self._lock:
            self._wanted = (source, first, count)
        self._wake.set()

    def search(self, source: str, query: str, from_line: int, forward: bool) -> None:
        """The next match of `query` after line `from_line` (the previous one before it),
        wrapping around the file's end."""
        with self._lock:
            self._serial += 1
            self._search = SearchAsk(source, query, from_line, forward, self._serial)
        self._wake.set()

    def filter(self, source: str, query: str) -> None:
        """Show only `source`'s lines that match `query` ('' shows every line again)."""
        with self._lock:
            self._filter = (source, query) if query else None
        self._wake.set()

    def jump(self, source: str, line: int, offset: int | None) -> None:
        """Line `line` (0-based) of `source` is about to be shown: with its byte offset
        known, its lines are read there at once, whatever the size of the log."""
        if offset is not None:
            with self._lock:
                self._jump = (source, line, offset)
            self._wake.set()

    def idle(self) -> None:
        """The pane follows the tail again: nothing to read here."""
        with self._lock:
            self._wanted = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # ---- the thread -------------------------------------------------------------------------

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                generation, wanted_run = self._run
                search, self._search = self._search, None
                jump, self._jump = self._jump, None
            if wanted_run != self._run_id:
                self._run_id, self._indexes, self._sent = wanted_run, {}, ()
                self._counted, self._island = (), None
            if self._run_id is None:
                self._wake.wait(1.0)
                continue
            if jump is not None:
                self._island = self._island_at(generation, self._run_id, jump)
            if search is not None:
                self._find(generation, self._run_id, search)
                continue
            if not self._serve(generation):
                continue  # more of the shown file to index or scan: after a look at requests
            if self._index_ahead(self._run_id):
                continue
            with self._lock:
                browsing = self._wanted is not None
            self._wake.wait(TICK_S if browsing else 1.0)

    def _index(self, path: Path) -> LineIndex:
        return self._indexes.setdefault(path, LineIndex(path))

    def _index_ahead(self, run_id: str) -> bool:
        """Index the shown run's logs before they are browsed, a step at a time: Home, a
        search or a jump then find the index ready. True while a large part is left (a log
        that merely grows is indexed once per tick, not in a loop)."""
        for source in SOURCES:
            path = self.paths.mirror_log(run_id, source)
            index = self._index(path)
            size = _size(path)
            if index.size < size:
                index.update(limit=AHEAD_STEP)
                if size - index.size > FIRST_STEP:
                    return True
        return False

    def _serve(self, generation: int) -> bool:
        """Send the rows the pane shows (after indexing or scanning one more step when the
        file is not all read); True when it is all read."""
        with self._lock:
            wanted, filtering = self._wanted, self._filter
        if wanted is None or self._run_id is None:
            return True
        source, first, count = wanted
        path = self.paths.mirror_log(self._run_id, source)
        index = self._index(path)
        size = _size(path)  # one look at the file per round
        if 0 < index.size < size and first + count <= index.lines and filtering is None:
            # The rows are indexed already: they go first, the index goes on after.
            note = f"indexing: {index.size / max(1, size):.0%} read"
            self._send(generation, source, first, count, index.lines, note, filtering, index, False)
        # The first step is small: the rows on screen come at once, the rest follows.
        state = index.update(limit=INDEX_STEP if index.size else FIRST_STEP)
        complete = index.size >= size
        if state.reset:
            self._said_reset_until = time.monotonic() + RESET_SAID_S
        note = RESET_NOTE if time.monotonic() < self._said_reset_until else ""
        if not complete:
            note = f"indexing: {index.size / max(1, size):.0%} read"
        total = index.lines
        island = self._island
        if island is not None and (island.path != path or complete or total >= island.end):
            island = self._island = None  # the index answers from here on
        if island is not None:
            total = max(total, island.end)
        if filtering is not None and filtering[0] == source:
            scan = self._scan
            if scan is None or (scan.path, scan.query) != (path, filtering[1]) or state.reset:
                scan = self._scan = FilterScan(path, filtering[1])
            scanned = scan.advance(index.size, INDEX_STEP)
            complete = complete and scanned
            total = len(scan.rows)
            note = f"filter {scan.query!r}: {total:,} matching lines" + (
                f" ({scan.stop / max(1, size):.0%} read)" if not scanned else ""
            )
            if scan.search.note:
                note += f" · {scan.search.note}"
        self._send(generation, source, first, count, total, note, filtering, index, complete)
        return complete

    def _send(
        self, generation: int, source: str, first: int, count: int, total: int, note: str,
        filtering: tuple[str, str] | None, index: LineIndex, complete: bool,
    ) -> None:  # fmt: skip
        """Post rows `first` … to the pane, unless it has them as they are."""
        key = (generation, source, first, count, total, note, filtering, complete)
        if key == self._sent:
            return
        self._sent = key
        island = self._island
        if filtering is not None and self._scan is not None:
            lines = self._scan.read(index, first, count)
        elif island is not None and island.holds(first, count):
            lines = island.lines[first - island.first : first + count - island.first]
        else:
            lines = index.read(first, count)
        self.post(BrowseRows(generation, source, first, lines, total, note, complete))

    def _island_at(self, generation: int, run_id: str, jump: tuple[str, int, int]) -> Island | None:
        """The lines around a jump's line, read at its offset and sent at once, when the
        index has not reached it (it has: the index reads them, as any line)."""
        source, line, offset = jump
        path = self.paths.mirror_log(run_id, source)
        index = self._index(path)
        if index.size > offset:
            return None
        before, lines = lines_around(path, offset, AROUND, AROUND)
        island = Island(path, line - before, lines)
        total = max(index.lines, island.end)
        note = f"indexing: {index.size / max(1, _size(path)):.0%} read"
        self.post(BrowseRows(generation, source, island.first, lines, total, note, False))
        return island

    def _find(self, generation: int, run_id: str, ask: SearchAsk) -> None:
        path = self.paths.mirror_log(run_id, ask.source)
        index = self._index(path)
        index.update()  # a search covers the whole file: index it all (~0.2 s per 350 MB)
        compiled = compile_query(ask.query)
        size, lines = index.size, index.lines
        if ask.forward:
            start = index.offset_of(ask.from_line) if ask.from_line < lines else size
            at, wrapped = find(path, compiled, start, size), False
            if at is None:
                at, wrapped = find(path, compiled, 0, start), True
        else:
            end = index.offset_of(min(ask.from_line, lines)) if lines else 0
            at, wrapped = find(path, compiled, 0, end, forward=False), False
            if at is None:
                at, wrapped = find(path, compiled, end, size, forward=False), True
        line = index.line_at(at) if at is not None else None
        self.post(BrowseFound(generation, ask.source, ask.query, line, wrapped, compiled.note))
        if line is None:
            return
        key = (path, ask.query, size)
        if key != self._counted:
            self._counted, self._matches = (), array("l")
            count = 0

            def progress(_: int) -> None:
                if self._serial != ask.serial or self._stop.is_set():
                    raise _Superseded
                if self._wake.is_set():  # the pane asks for rows (the match's): first those
                    self._wake.clear()
                    self._serve(generation)
                self.post(BrowseCount(generation, ask.source, ask.query, count, None, False))

            try:
                for number in matching_lines(path, compiled, size, progress):
                    count += 1
                    if count <= MATCHES_KEPT:
                        self._matches.append(number)
            except _Superseded:
                return
            self._counted, self._total = key, count
        kept = len(self._matches) == self._total
        k = bisect_left(self._matches, line) + 1 if kept else None
        self.post(BrowseCount(generation, ask.source, ask.query, self._total, k, True))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
