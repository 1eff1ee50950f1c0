"""`cockpit runs [--json]`: the run list from the store alone (standard library only), so
scripts and agents polling it pay no more than a plain sqlite3 query."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cockpit.store import StoreReader


def print_runs(project: Path, as_json: bool, limit: int | None) -> int:
    db = project / ".cockpit" / "state.db"
    reader = StoreReader(db, read_only=True) if db.exists() else None
    runs = reader.runs(limit=limit) if reader else []
    if as_json:
        json.dump([run.to_json() for run in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'RUN':<14} {'HYP':<5} {'STATE':<12} {'BACKEND':<8} {'STARTED':<20} {'COST':>8}  PLAN")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
        print(
            f"{run.id:<14} {run.hypothesis:<5} {run.state:<12} {run.backend:<8} {started:<20} "
            f"${run.cost_so_far:>7.2f}  {run.plan}"
        )
    return 0
