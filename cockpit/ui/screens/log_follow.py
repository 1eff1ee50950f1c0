"""Following the shown run's mirrored logs into the log pane (both modes): tailing, skipping
ahead when a flood outruns the screen, pausing the fast timer when the logs are quiet, and
the view actions on the pane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.timer import Timer

from cockpit.store.mirror_tail import MirrorTail, window_around
from widgets.log_pane import MAX_LINES, SOURCES, LogPane

if TYPE_CHECKING:
    from cockpit.core.paths import ProjectPaths
    from cockpit.core.records import RunRecord

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


class LogFollower:
    """Follows one run's mirrored logs into the log pane: the screen owns one, tells it which
    run is shown, and calls `pump` from its log timer (which this pauses while logs are
    quiet and resumes when lines come)."""

    def __init__(self, pane: LogPane, paths: ProjectPaths) -> None:
        self.pane = pane
        self.paths = paths
        self.run: RunRecord | None = None
        self.tails: dict[str, MirrorTail] = {}
        self.timer: Timer | None = None
        """The screen's fast log timer, paused after `QUIET_READS` empty reads."""
        self.quiet_reads = 0

    @property
    def quiet(self) -> bool:
        """The fast timer is paused: something else must call `pump` when lines may come."""
        return self.quiet_reads >= QUIET_READS

    def show(self, run: RunRecord | None) -> None:
        """Follow `run` (or nothing) from its backlog on."""
        self.run = run
        self.quiet_reads = 0
        if self.timer is not None:
            self.timer.resume()
        if run is None:
            self.tails = {}
            self.pane.reset({})
            return
        self.tails = {
            source: MirrorTail(self.paths.mirror_log(run.id, source)) for source in SOURCES
        }
        self.pane.reset({source: tail.backlog(MAX_LINES) for source, tail in self.tails.items()})

    def pump(self) -> bool:
        """Move new mirror lines into the pane; True if there were any.

        Ten reads a second while lines flow; after two quiet seconds the fast timer pauses
        (ten wake-ups a second were a third of an idle watch's CPU) and the store refresh
        (four a second: the supervisor commits offsets with every batch) or the clock tick
        wakes it again."""
        read = self._pump()
        if read:
            self.quiet_reads = 0
            if self.timer is not None:
                self.timer.resume()
        else:
            self.quiet_reads += 1
            if self.quiet and self.timer is not None:
                self.timer.pause()
        return read

    def _pump(self) -> bool:
        read = False
        pane = self.pane
        # Unfiltered, the pane keeps the last MAX_LINES lines: a tail far behind (a flood, a
        # burst) jumps ahead rather than feed the widget lines it would drop at once. With a
        # filter every line is read, since any of them may match.
        skip = None if pane.filter_text else SKIP_BEHIND
        for source, tail in self.tails.items():
            lines = tail.read_new(PANE_READ, skip_behind=skip)
            if tail.skipped:
                note = skipped_note(tail.skipped, self.run.id if self.run else "")
                lines = [note, *lines[-(MAX_LINES - 1) :]]
            if lines:
                read = True
                pane.append(source, lines)
        return read

    def follow(self) -> None:
        """Back to the end of the log (from a jump, the backlog is read again)."""
        if self.pane.jumped:
            self.show(self.run)
        self.pane.follow()

    def jump_to_failure(self, run: RunRecord | None) -> bool:
        """Show the line that decided `run`'s failure; False when it has none."""
        if run is None or not run.failure_source or not run.failure_line_no:
            return False
        path = self.paths.mirror_log(run.id, run.failure_source)
        first, lines = window_around(path, run.failure_line_no)
        self.pane.show_window(
            run.failure_source, lines, run.failure_line_no - first, run.failure_line_no
        )
        return True
