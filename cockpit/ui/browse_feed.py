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
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from cockpit.core.paths import ProjectPaths
from cockpit.store.line_index import LineIndex

INDEX_STEP = 64 * 1024 * 1024
"""Bytes indexed between two looks at new requests (a big log answers while it is indexed)."""
TICK_S = 0.25
"""How often a browsed log is looked at for growth."""


class BrowseRows(Message):
    """Lines `first` … of `source`, and the file's line count as indexed."""

    def __init__(
        self, generation: int, source: str, first: int, lines: list[str], total: int, note: str
    ) -> None:
        self.generation = generation
        self.source, self.first, self.lines, self.total = source, first, lines, total
        self.note = note
        """`the log was truncated: read again`, `indexing: 41%`, or ''."""
        super().__init__()


class BrowseFeed:
    """Serves the pane's browse requests in its own thread; see the module docstring."""

    def __init__(self, paths: ProjectPaths, post: Callable[[Message], object]) -> None:
        self.paths = paths
        self.post = post
        self._lock = threading.Lock()
        self._run: tuple[int, str | None] = (0, None)
        self._wanted: tuple[str, int, int] | None = None
        """(source, first, count) the pane shows now; None while it is not browsing."""
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

    def idle(self) -> None:
        """The pane follows the tail again: nothing to read here."""
        with self._lock:
            self._wanted = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # ---- the thread -------------------------------------------------------------------------

    def run(self) -> None:
        indexes: dict[Path, LineIndex] = {}
        run_id: str | None = None
        sent: tuple[object, ...] = ()
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                (generation, wanted_run), wanted = self._run, self._wanted
            if wanted_run != run_id:
                run_id, indexes, sent = wanted_run, {}, ()
            if wanted is None or run_id is None:
                self._wake.wait(1.0)
                continue
            source, first, count = wanted
            path = self.paths.mirror_log(run_id, source)
            index = indexes.setdefault(path, LineIndex(path))
            state = index.update(limit=INDEX_STEP)
            complete = index.size >= _size(path)
            note = "the log was truncated or replaced: read again" if state.reset else ""
            if not complete:
                note = f"indexing: {index.size / max(1, _size(path)):.0%} read"
            key = (generation, source, first, count, index.lines, note)
            if key != sent:
                sent = key
                lines = index.read(first, count)
                self.post(BrowseRows(generation, source, first, lines, index.lines, note))
            if complete:
                self._wake.wait(TICK_S)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
