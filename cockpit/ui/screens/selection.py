"""What the main screen's panes show, and why: the hypothesis under the cursor, a run opened
from the runs view, and the cursor's moves to runs that start. Every action (stop, relaunch,
copy, open) applies to the run chosen here — what the panes show — never to another."""

from __future__ import annotations

from cockpit.core.planbook import PlanBook
from cockpit.core.records import RunRecord
from cockpit.ui import viewmodel
from widgets.hypothesis_list import HypothesisList


class Selection:
    """The screen owns one, gives it the plan list, and asks it which run to show."""

    def __init__(self, planbook: PlanBook, plan_list: HypothesisList, read_only: bool) -> None:
        self.planbook = planbook
        self.plan_list = plan_list
        self.read_only = read_only
        self.highlighted: str | None = None
        """The plan list's row under the cursor (`<plan>:<id>`), if a hypothesis."""
        self.opened: RunRecord | None = None
        """A run opened from the runs view: shown until the cursor moves on."""
        self.why = ""
        """Why the chosen run is shown (the header says it)."""
        self._active_ids: set[str] = set()

    def choose(self, runs: list[RunRecord]) -> RunRecord | None:
        chosen, self.why = viewmodel.choose_shown(
            self.planbook.entries, runs, self.highlighted, self.opened
        )
        return chosen

    def cursor_moved(self, key: str | None) -> None:
        self.highlighted = key
        opened = self.opened
        if opened is not None and key != f"{opened.plan}:{opened.hypothesis}":
            self.opened = None  # the cursor moved on: its hypothesis's latest run again

    def open(self, run: RunRecord) -> None:
        self.opened = run
        self.plan_list.select_key(f"{run.plan}:{run.hypothesis}")

    def follow_new_runs(self, runs: list[RunRecord], first: bool) -> None:
        """The cursor goes to the run that matters: at start, the active run (else the
        newest); in watch mode, also every run that starts later (a second monitor follows
        the work; the interactive window stays where the user put it)."""
        active = {run.id for run in runs if run.active}
        started = [run for run in runs if run.id in active - self._active_ids]
        self._active_ids = active
        target = None
        if first:
            target = started[0] if started else (runs[0] if runs else None)
        elif self.read_only and started and self.opened is None:
            target = started[0]
        if target is not None:
            self.plan_list.select_key(f"{target.plan}:{target.hypothesis}")
