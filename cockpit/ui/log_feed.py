"""Reading the shown run's mirrored logs for the log pane, off the event loop.

A `LogFeed` runs in a worker thread. It tails the three mirror files of the run the screen
shows and posts what it read as batched messages, never one per line: `LogBacklog` when the
run (or the filter) changes, `LogLines` at most ten times a second while lines flow.
Every message carries the generation of the
screen's request, so lines of a run no longer shown are dropped on arrival.

It reads ten times a second while lines come and waits up to a second after twenty empty
reads (a quiet log costs no wake-ups); a store commit wakes it at once (`poke`: the supervisor
records the parsed offset with every batch it mirrors). Producers slow down when the UI's
queue grows (toolong's rule): with more than `MAX_IN_FLIGHT` batches not yet applied it reads
nothing, and a tail that falls more than one read behind jumps to the end with a note.

Reading any other part of a log (browsing, search, the jump to the failure line) is the
`BrowseFeed`'s (`cockpit.ui.browse_feed`), in a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from cockpit.core.paths import ProjectPaths
from cockpit.store.mirror_tail import MirrorTail
from widgets.log_pane import MAX_LINES, SOURCES

if TYPE_CHECKING:
    from cockpit.ui.screens.log_follow import LogFollower

PANE_READ = 512 * 1024
"""The most a log tail reads per tick (ten a second): 5 MB/s, ~60k lines/s, before it skips."""
SKIP_BEHIND = PANE_READ
"""A log tail more than one read behind the mirror's end jumps to the end (see `LogFeed`):
one read holds the pane's 5000 lines unless they average over 100 characters."""
TICK_S = 0.1
"""Between reads while lines flow."""
QUIET_READS = 20
"""Empty reads in a row (two seconds) after which the feed reads once a second (or on a poke)."""
QUIET_TICK_S = 1.0
MAX_IN_FLIGHT = 3
"""Batches posted and not yet applied by the UI above which the feed stops reading."""


def skipped_note(skipped: int, run_id: str) -> str:
    return (
        f"··· {skipped / 1e6:.1f} MB not shown here (the log outran the screen): every line "
        f"is in the mirror — Home or scrolling up reads them, or `cockpit logs {run_id}`"
    )


class FeedMessage(Message):
    """What a log feed's thread tells the screen: delivered to its `LogFollower`."""

    def deliver(self, logs: LogFollower) -> None:
        raise NotImplementedError


class LogBacklog(FeedMessage):
    """The last lines of every source of the run shown: replace the pane's contents."""

    def __init__(self, generation: int, contents: dict[str, list[str]]) -> None:
        self.generation = generation
        self.contents = contents
        super().__init__()

    def deliver(self, logs: LogFollower) -> None:
        logs.backlog(self)


class LogLines(FeedMessage):
    """Lines appended to the mirror since the last batch, by source."""

    def __init__(self, generation: int, lines: dict[str, list[str]]) -> None:
        self.generation = generation
        self.lines = lines
        super().__init__()

    def deliver(self, logs: LogFollower) -> None:
        logs.lines(self)


class LogFeed:
    """Tails the shown run's mirrors in its own thread; see the module docstring."""

    def __init__(self, paths: ProjectPaths, post: Callable[[Message], object]) -> None:
        self.paths = paths
        self.post = post
        self.applied = 0
        """Batches the UI has applied (it counts them; the feed compares with `posted`)."""
        self.posted = 0
        self.quiet_reads = 0
        """Empty reads in a row (the thread's; from `QUIET_READS` on it reads once a second)."""
        self._lock = threading.Lock()
        self._wanted: tuple[int, str | None] = (0, None)
        self._wake = threading.Event()
        self._stop = threading.Event()

    # ---- asked from the UI thread -----------------------------------------------------------

    def show(self, generation: int, run_id: str | None) -> None:
        """Follow `run_id`'s logs from their backlog on (tagged `generation`)."""
        with self._lock:
            self._wanted = (generation, run_id)
        self._wake.set()

    def poke(self) -> None:
        """Something was committed: read now rather than at the next quiet tick."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # ---- the thread -------------------------------------------------------------------------

    def run(self) -> None:
        generation, run_id = -1, None
        tails: dict[str, MirrorTail] = {}
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                wanted = self._wanted
            if wanted != (generation, run_id):
                generation, run_id = wanted
                tails = {}
                if run_id is not None:
                    tails = {s: MirrorTail(self.paths.mirror_log(run_id, s)) for s in SOURCES}
                backlog = {source: tail.backlog(MAX_LINES) for source, tail in tails.items()}
                self._post(LogBacklog(generation, backlog))
                self.quiet_reads = 0
            if self.posted - self.applied >= MAX_IN_FLIGHT:
                self._wake.wait(TICK_S)  # the UI is behind: let it catch up
                continue
            lines = self._read(tails, run_id or "")
            if lines:
                self._post(LogLines(generation, lines))
                self.quiet_reads = 0
            else:
                self.quiet_reads += 1
            self._wake.wait(QUIET_TICK_S if self.quiet_reads >= QUIET_READS else TICK_S)

    def _post(self, message: Message) -> None:
        self.posted += 1
        self.post(message)

    def _read(self, tails: dict[str, MirrorTail], run_id: str) -> dict[str, list[str]]:
        skip = SKIP_BEHIND
        found: dict[str, list[str]] = {}
        for source, tail in tails.items():
            lines = tail.read_new(PANE_READ, skip_behind=skip)
            if tail.skipped:
                lines = [skipped_note(tail.skipped, run_id), *lines[-(MAX_LINES - 1) :]]
            if lines:
                found[source] = lines
        return found
