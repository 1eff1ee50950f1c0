"""The status line, announcements and the tmux pane title of the main screen: what every
window says about the project as a whole (supervision, alerts, other windows, state changes)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from cockpit.core.protocol import INFO_WARNINGS, RunState
from cockpit.ui.notices import say
from widgets.text_update import set_text

if TYPE_CHECKING:
    from cockpit.core.paths import ProjectPaths
    from cockpit.core.records import RunRecord
    from cockpit.ui.presence import Presence
    from cockpit.ui.store_feed import StoreSnapshot


class SupervisionChecked(Message):
    """The status line looked at the supervisor: `enforced` is False while runs are active
    and no supervisor holds the project's lock (the interactive Controls start one then)."""

    def __init__(self, enforced: bool) -> None:
        self.enforced = enforced
        super().__init__()


class StatusLine:
    """The main screen's top line, its toasts for state changes, and the tmux pane title. The
    screen owns one and hands it what changed; it keeps what it last announced."""

    def __init__(
        self,
        screen: Screen[None],
        project: Path,
        paths: ProjectPaths,
        presence: Presence,
        read_only: bool,
        clock: Callable[[], float],
    ) -> None:
        self.screen = screen
        """Where toasts and messages go (and the line widget lives)."""
        self.project = project
        self.paths = paths
        self.presence = presence
        self.read_only = read_only
        self.clock = clock
        self._states: dict[str, tuple[RunState, tuple[str, ...]]] = {}
        self._pane_title = ""
        self._loop_states: dict[str, str] = {}

    def announce_state_changes(self, runs: list[RunRecord]) -> None:
        """A toast (and the bell for endings and warnings) for every change since last read."""
        screen = self.screen
        states = {run.id: (run.state, run.warnings) for run in runs}
        if self._states:
            for run in runs:
                before = self._states.get(run.id)
                if before is None:
                    if run.parent and run.attempt > 1:
                        say(screen, f"{run.parent} relaunched as {run.id} "
                            f"(attempt {run.attempt})", key=f"run:{run.id}")  # fmt: skip
                    continue
                state, warnings = before
                if state != run.state:
                    bad = run.state in ("failed", "cap-exceeded")
                    say(  # one line each: what happened, then why no relaunch
                        screen,
                        f"{run.id} ({run.hypothesis}) {run.state}: {run.detail}"
                        + (f"\nnot relaunched: {run.guard}" if run.guard and bad else ""),
                        key=f"run:{run.id}",
                        severity="error" if bad else "information",
                        timeout=10 if bad else 5,
                    )
                    if not run.active:
                        screen.app.bell()
                for warning in set(run.warnings) - set(warnings) - INFO_WARNINGS:
                    say(screen, f"{run.id}: {warning}", key=f"run:{run.id}:{warning}",
                        severity="warning")  # fmt: skip
                    screen.app.bell()
        self._states = states

    def update(self, runs: list[RunRecord], snapshot: StoreSnapshot) -> None:
        """Mode, active runs, who else is attached, the supervisor — and, first of all, a
        plain warning when runs are active and nothing enforces their rules, or when the
        supervisor enforces a config other than the file's."""
        mode = "READ-ONLY · watch" if self.read_only else "interactive"
        active = sum(1 for run in runs if run.active)
        queued = sum(1 for run in runs if run.state == RunState.QUEUED)
        parts = [f"cockpit · {self.project.name} · {mode}"]
        parts.append(
            f"{active - queued} active run{'s' if active - queued != 1 else ''}"
            + (f" · {queued} queued" if queued else "")
        )
        parts += self._loops(snapshot)
        alerts = snapshot.alerts
        others = snapshot.others
        if others:
            kinds = [o.kind for o in others]
            described = ", ".join(
                f"{kinds.count(kind)} {kind}" for kind in ("interactive", "watch") if kind in kinds
            )
            parts.append(f"also open: {described}")
        beat = snapshot.heartbeat
        if beat is None:
            parts.append("supervisor: none yet")
        else:
            age = self.clock() - beat.t
            parts.append(
                f"supervisor pid {beat.pid}: beat {age:.0f}s ago"
                if age < 10
                else f"supervisor: silent for {age:.0f}s"
            )
        for alert in alerts:  # a standing alert comes first: a rule is not what you think
            first = alert.message.splitlines()[0]
            config = not alert.key.startswith("backend:")
            parts.insert(
                0, f"⚠ {first}" + (" (the last good config is enforced)" if config else "")
            )
        full = snapshot.disk_full
        if full:
            parts.insert(
                0,
                f"⚠ DISK FULL under {self.paths.state}: logs, metrics and results wait and "
                "resume where they stopped when there is room",
            )
        line = self.screen.query_one("#status-line", Static)
        unsupervised = bool(active) and not snapshot.supervised
        if unsupervised:
            since = beat.t if beat is not None else self.clock()
            parts = [
                "⚠ health rules and cost cap are NOT enforced since "
                + time.strftime("%H:%M", time.localtime(since))
                + " (no supervisor"
                + ("; restarting it)" if not self.read_only else "; run `cockpit supervise`)"),
                *parts,
            ]
        line.set_class(unsupervised or bool(alerts) or full, "-unsupervised")
        # Data not refreshed by a supervisor for a while is shown as stale.
        line.set_class(beat is not None and self.clock() - beat.t >= 10, "-stale")
        set_text(line, "  ·  ".join(parts))
        self._set_pane_title(runs)
        line.post_message(SupervisionChecked(not unsupervised))  # bubbles: Controls restarts

    def _loops(self, snapshot: StoreSnapshot) -> list[str]:
        """The loops running (`loop tick 2/5`); else how the last one ended, for half a day.
        A loop that ends while this window looks is announced with its report."""
        running = [loop for loop in snapshot.loops if loop.active]
        for loop in snapshot.loops:
            if not loop.active and self._loop_states.get(loop.id) not in (None, "ended"):
                self.screen.notify(
                    f"{loop.id} on {loop.plan} ended: {loop.stop_reason} (report: {loop.report})",
                    severity="warning" if loop.end_state == "paused" else "information",
                    timeout=15,
                )
            self._loop_states[loop.id] = loop.state
        if running:
            return [
                f"⟳ loop {loop.plan} tick {loop.ticks}/{loop.max_ticks or '∞'}"
                + (" (stopping)" if loop.state == "stopping" else "")
                for loop in running
            ]
        last = snapshot.loops[0] if snapshot.loops else None
        if last is not None and last.ended_at and self.clock() - last.ended_at < 12 * 3600:
            return [f"last loop: {last.end_state or 'ended'}, {last.stop_reason} ({last.report})"]
        return []

    def _set_pane_title(self, runs: list[RunRecord]) -> None:
        """Inside tmux, the interactive cockpit names its pane after the run's state."""
        pane = os.environ.get("TMUX_PANE")
        if self.read_only or not pane or not os.environ.get("TMUX"):
            return
        run = next((r for r in runs if r.active), runs[0] if runs else None)
        title = f"cockpit {run.id} {run.state}" if run else "cockpit"
        if title != self._pane_title:
            self._pane_title = title
            command = ["tmux", "select-pane", "-t", pane, "-T", title]
            self.screen.run_worker(  # starting a process is not for the event loop
                partial(_quietly, command), thread=True, group="pane-title", exit_on_error=False
            )


def _quietly(command: list[str]) -> None:
    with contextlib.suppress(OSError):
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
