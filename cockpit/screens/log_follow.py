"""Following the shown run's mirrored logs into the log pane (both modes): tailing, skipping
ahead when a flood outruns the screen, pausing the fast timer when the logs are quiet, and
the view actions on the pane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.screen import Screen
from textual.timer import Timer

from cockpit.tail import MirrorTail, window_around
from widgets.log_pane import MAX_LINES, SOURCES, LogPane

if TYPE_CHECKING:
    from cockpit.runtime import ProjectPaths
    from cockpit.store import RunRecord

PANE_READ = 512 * 1024
"""The most a log tail reads per tick (ten a second): 5 MB/s, ~60k lines/s, before it skips."""
QUIET_READS = 20
"""Empty log reads in a row (two seconds) after which the fast log timer pauses."""
SKIP_BEHIND = PANE_READ
"""A log tail more than one read behind the mirror's end jumps to the end (see `pump_logs`):
one read holds the pane's 5000 lines unless they average over 100 characters."""


def skipped_note(skipped: int, run_id: str) -> str:
    return (
        f"··· {skipped / 1e6:.1f} MB not shown (the log outran the screen); "
        f"every line is in the mirror: cockpit logs {run_id}"
    )


class LogFollowMixin(Screen[None]):
    """Mixed into `MainScreen`, which sets these up."""

    paths: ProjectPaths
    shown: RunRecord | None
    tails: dict[str, MirrorTail]
    _log_timer: Timer | None
    _quiet_reads: int

    def _reset_logs(self) -> None:
        self._quiet_reads = 0
        if self._log_timer is not None:
            self._log_timer.resume()
        pane = self.query_one(LogPane)
        if self.shown is None:
            self.tails = {}
            pane.reset({})
            return
        self.tails = {
            source: MirrorTail(self.paths.mirror_log(self.shown.id, source)) for source in SOURCES
        }
        pane.reset({source: tail.backlog(MAX_LINES) for source, tail in self.tails.items()})

    def pump_logs(self) -> bool:
        """Move new mirror lines into the pane; True if there were any.

        Ten reads a second while lines flow; after two quiet seconds the fast timer pauses
        (ten wake-ups a second were a third of an idle watch's CPU) and the store refresh
        (four a second: the supervisor commits offsets with every batch) or the clock tick
        wakes it again."""
        read = self._pump_logs()
        if read:
            self._quiet_reads = 0
            if self._log_timer is not None:
                self._log_timer.resume()
        else:
            self._quiet_reads += 1
            if self._quiet_reads >= QUIET_READS and self._log_timer is not None:
                self._log_timer.pause()
        return read

    def _pump_logs(self) -> bool:
        read = False
        pane = self.query_one(LogPane)
        # Unfiltered, the pane keeps the last MAX_LINES lines: a tail far behind (a flood, a
        # burst) jumps ahead rather than feed the widget lines it would drop at once. With a
        # filter every line is read, since any of them may match.
        skip = None if pane.filter_text else SKIP_BEHIND
        for source, tail in self.tails.items():
            lines = tail.read_new(PANE_READ, skip_behind=skip)
            if tail.skipped:
                note = skipped_note(tail.skipped, self.shown.id if self.shown else "")
                lines = [note, *lines[-(MAX_LINES - 1) :]]
            if lines:
                read = True
                pane.append(source, lines)
        return read

    @on(LogPane.FilterChanged)
    def _filter_changed(self) -> None:
        self._reset_logs()

    def action_show_source(self, source: str) -> None:
        self.query_one(LogPane).source = source

    def action_follow(self) -> None:
        pane = self.query_one(LogPane)
        if pane.jumped:
            self._reset_logs()
        pane.follow()

    def action_jump_to_failure(self) -> None:
        run = self.shown
        if run is None or not run.failure_source or not run.failure_line_no:
            self.notify("the run on screen has no failure line to jump to", severity="warning")
            return
        path = self.paths.mirror_log(run.id, run.failure_source)
        first, lines = window_around(path, run.failure_line_no)
        self.query_one(LogPane).show_window(
            run.failure_source, lines, run.failure_line_no - first, run.failure_line_no
        )

    def action_filter(self) -> None:
        self.query_one(LogPane).open_filter()
