"""The runs a screen shows, kept current from the store's change numbers: each refresh reads
only the runs changed since the last one (every poll changes the active run's cost; re-reading
a long history each time made an idle watch busy)."""

from __future__ import annotations

from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader

MAX_RUNS_SHOWN = 1000
"""The newest runs the screens keep (the plan rows need each hypothesis's latest)."""


class RunList:
    def __init__(self) -> None:
        self.runs: list[RunRecord] = []
        """Newest first, at most `MAX_RUNS_SHOWN`."""
        self.seq = 0
        """The store's change number when last read."""
        self._index: dict[str, int] = {}

    def refresh(self, reader: StoreReader) -> tuple[bool, bool]:
        """Fold in the runs changed since the last refresh. Returns (moved, reset): moved when
        a run is new or its state or warnings changed; reset when the store was replaced (its
        change numbers went back) and was read afresh."""
        latest, changed = reader.run_changes(self.seq)
        reset = latest < self.seq
        if reset:
            self.runs, self._index = [], {}
            latest, changed = reader.run_changes(0)
        self.seq = latest
        return self._merge(changed), reset

    def _merge(self, changed: list[RunRecord]) -> bool:
        moved = added = False
        for run in changed:
            at = self._index.get(run.id)
            if at is None:
                moved = added = True
                self._index[run.id] = len(self.runs)
                self.runs.append(run)
                continue
            before = self.runs[at]
            moved |= (before.state, before.warnings) != (run.state, run.warnings)
            self.runs[at] = run
        if added:
            self.runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
            del self.runs[MAX_RUNS_SHOWN:]
            self._index = {run.id: at for at, run in enumerate(self.runs)}
        return moved
