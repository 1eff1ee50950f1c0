"""Reading the store for the screens, off the event loop.

A `StoreFeed` runs in a worker thread. Four times a second it asks SQLite whether anything was
committed (`PRAGMA data_version`, a few microseconds); when something was — or when the screen
asks for another run, or every second for the clock-driven facts — it reads what the screens
show (the runs changed since the last read, alerts, the enforced policy, the heartbeat, the
shown run's metric series and cost facts, how the screen's requests ended, whether a supervisor
holds the lock, disk room, other windows) into one `StoreSnapshot` and posts it. Snapshots the
screen has not applied yet are replaced by newer ones (`can_replace`, toolong's watcher
pattern), so a slow frame never queues stale reads. The screen applies them without touching
SQLite or a file: nothing on the event loop waits for the disk.

The feed owns its own `StoreReader`, opened in its thread (SQLite connections stay in the
thread that made them); the screen keeps a separate one only to write request rows when the
user acts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from textual.message import Message

from cockpit.core.config import CockpitConfig
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import OPEN_REQUESTS
from cockpit.core.records import Alert, Heartbeat, LoopRecord, Request, RunRecord
from cockpit.store.disk_room import disk_full
from cockpit.store.migrations import SCHEMA_VERSION
from cockpit.store.reader import StoreReader
from cockpit.store.sqlite_file import StoreError
from cockpit.store.supervisor_lock import supervisor_alive
from cockpit.ui import viewmodel
from cockpit.ui.presence import Attached, Presence
from cockpit.ui.screens.run_list import RunList
from widgets.sparklines import MetricSeries

POLL_S = 0.25
"""How often the feed asks the store whether anything was committed."""
FACTS_S = 1.0
"""How often the clock-driven facts (the lock, disk room, other windows) are looked at."""
PRESENCE_S = 5.0
"""How often this window says it is still here."""


@dataclass(frozen=True)
class StoreSnapshot:
    """Everything the screens show from the store and the project's folder, read at once."""

    error: str | None = None
    """Why the store cannot be read (missing, too old for this cockpit); None when it was."""
    version: int = 0
    """The store's change number when read."""
    runs: tuple[RunRecord, ...] = ()
    """The runs shown, newest first."""
    moved: bool = False
    """A run is new, or its state or warnings changed, since the last snapshot applied."""
    alerts: tuple[Alert, ...] = ()
    enforced: dict[str, Any] = field(default_factory=dict)
    heartbeat: Heartbeat | None = None
    shown: str | None = None
    """The run the series and cost facts are about (the one the screen asked for)."""
    series: dict[str, MetricSeries] = field(default_factory=dict)
    cost: viewmodel.CostFacts | None = None
    failure_offset: int | None = None
    """Where the shown run's failure line starts in its mirror (stored with its anomaly)."""
    requests: dict[str, tuple[Request, RunRecord | None]] = field(default_factory=dict)
    """The screen's requests that ended, with the run each made (for the toasts)."""
    supervised: bool = False
    """A supervisor holds the project's lock."""
    disk_full: bool = False
    others: tuple[Attached, ...] = ()
    """Other cockpit windows on this project."""
    loops: tuple[LoopRecord, ...] = ()
    """The newest loops (`cockpit loop`), running ones and the last that ended."""

    def about(self, run: RunRecord | None) -> StoreSnapshot | None:
        """This snapshot when its series, cost facts and failure offset are about `run` (just
        after the cursor moves they are still the previous run's), else None."""
        return self if run is not None and self.shown == run.id else None


class StoreChanged(Message):
    """A new snapshot; one not yet handled is replaced by a newer one, whose `moved` keeps
    the older one's (an announcement is never lost to coalescing)."""

    def __init__(self, snapshot: StoreSnapshot) -> None:
        self.snapshot = snapshot
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        if not isinstance(message, StoreChanged):
            return False
        if message.snapshot.moved and not self.snapshot.moved:
            self.snapshot = _with_moved(self.snapshot)
        return True


def _with_moved(snapshot: StoreSnapshot) -> StoreSnapshot:
    return replace(snapshot, moved=True)


class StoreFeed:
    """Reads the store in its own thread and posts `StoreChanged`; see the module docstring."""

    def __init__(
        self,
        paths: ProjectPaths,
        config: CockpitConfig,
        read_only: bool,
        presence: Presence,
        post: Callable[[Message], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.paths = paths
        self.config = config
        self.read_only = read_only
        self.presence = presence
        self.post = post
        self.clock = clock
        self.shown: str | None = None
        """The run whose series and cost the screen wants (set from the UI thread)."""
        self.pending: frozenset[str] = frozenset()
        """Request ids the screen waits on (set from the UI thread)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reader: StoreReader | None = None
        self._runs = RunList()
        self._seen: tuple[object, ...] = ()

    def want(self, shown: str | None, pending: frozenset[str] | None = None) -> None:
        """Ask for a snapshot about `shown` now (the cursor moved, a request was sent)."""
        self.shown = shown
        if pending is not None:
            self.pending = pending
        self._wake.set()

    def read_now(self) -> StoreSnapshot:
        """One read on the caller's thread, before `run` starts: the first frame shows the
        runs (start-up, not steady state; the connection then moves to the feed's thread)."""
        snapshot = self._read(force=True)
        assert snapshot is not None
        return snapshot

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """The worker thread's body: until `stop`, read and post what changed."""
        facts_due = presence_due = 0.0
        clock = time.monotonic
        try:
            while not self._stop.is_set():
                now = clock()
                asked = self._wake.is_set()
                self._wake.clear()
                facts = now >= facts_due
                if facts:
                    facts_due = now + FACTS_S
                if now >= presence_due:
                    presence_due = now + PRESENCE_S
                    self.presence.beat()
                snapshot = self._read(force=asked or facts)
                if snapshot is not None:
                    self.post(StoreChanged(snapshot))
                self._wake.wait(POLL_S)
        finally:
            if self._reader is not None:
                self._reader.close()
            self.presence.leave()

    def _open(self) -> StoreReader | str:
        try:
            reader = StoreReader(self.paths.db, read_only=self.read_only, handed_over=True)
        except (StoreError, sqlite3.Error) as exc:
            return str(exc)
        if reader.schema_version < SCHEMA_VERSION:  # read-only: it cannot migrate
            reader.close()
            return (
                f"it has schema version {reader.schema_version}, older than this cockpit's "
                f"{SCHEMA_VERSION}; the supervisor upgrades it when it starts (`cockpit supervise`)"
            )
        return reader

    def _read(self, force: bool) -> StoreSnapshot | None:
        if self._reader is None:
            opened = self._open()
            if isinstance(opened, str):
                return StoreSnapshot(error=opened, supervised=supervisor_alive(self.paths.lock))
            self._reader, force = opened, True
        reader = self._reader
        try:
            version = reader.data_version()
            seen = (version, self.shown, self.pending)
            if not force and seen == self._seen:
                return None
            self._seen = seen
            return self._snapshot(reader, version)
        except sqlite3.Error as exc:  # replaced or damaged under us: open it again next time
            reader.close()
            self._reader, self._runs, self._seen = None, RunList(), ()
            return StoreSnapshot(error=str(exc), supervised=supervisor_alive(self.paths.lock))

    def _snapshot(self, reader: StoreReader, version: int) -> StoreSnapshot:
        moved, reset = self._runs.refresh(reader)
        runs = tuple(self._runs.runs)
        shown = next((run for run in runs if run.id == self.shown), None)
        ended: dict[str, tuple[Request, RunRecord | None]] = {}
        for request_id in self.pending:
            request = reader.request(request_id)
            if request is not None and request.status not in OPEN_REQUESTS:
                run = reader.run(request.run_id) if request.run_id else None
                ended[request_id] = (request, run)
        return StoreSnapshot(
            version=version,
            runs=runs,
            moved=moved or reset,
            alerts=tuple(reader.alerts()),
            enforced=viewmodel.as_dict(reader.meta("enforced")),
            heartbeat=reader.heartbeat(),
            shown=self.shown,
            series=viewmodel.metric_series(reader, shown, self.config),
            cost=viewmodel.cost_facts(reader, shown, self.config, self.clock()) if shown else None,
            failure_offset=reader.line_offset(shown.id, shown.failure_source, shown.failure_line_no)
            if shown is not None and shown.failure_source and shown.failure_line_no
            else None,
            requests=ended,
            supervised=supervisor_alive(self.paths.lock),
            disk_full=disk_full(self.paths.state),
            others=tuple(self.presence.others()),
            loops=tuple(reader.loops()[:10]),
        )
