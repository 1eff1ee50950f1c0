"""`cockpit runs [--json]`: the run list from the store alone (standard library only), so
scripts and agents polling it pay no more than a plain sqlite3 query."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path


def iso_time(t: float | None) -> str | None:
    """Same as `cockpit.core.records.iso_time` (a test holds them equal); here to keep this path's
    imports to the standard library."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


_JSON_COLUMNS = (
    "id, hypothesis, plan, backend, state, commit_sha, created_at, started_at, ended_at, "
    "exit_code, cost_per_hour, cost_so_far, uptime_s, detail, failure_class, failure_line, "
    "failure_source, failure_line_no, attempt, parent, warnings, guard, cap"
)
_SCHEMA5_COLUMNS = ", guard_kind, stage"
"""Columns a store has from schema 5 on (a read-only listing may meet an older store)."""
_SCHEMA6_COLUMNS = ", hypothesis_text"
_SCHEMA8_COLUMNS = ", loop_id, loop_iter, verdict"
_SCHEMA9_COLUMNS = ", host, gpus"


def runs_json(db: Path, limit: int | None) -> list[dict[str, object]]:
    """What `RunRecord.to_json` gives for every run, read straight from the rows (no records
    built: this is the path scripts poll). A test keeps the two identical."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, timeout=5)
    try:
        order = " FROM runs ORDER BY created_at DESC, id DESC"
        if limit is not None:
            order += f" LIMIT {int(limit)}"
        rows = []
        for extra, missing in (
            (_SCHEMA5_COLUMNS + _SCHEMA6_COLUMNS + _SCHEMA8_COLUMNS + _SCHEMA9_COLUMNS, ()),
            (_SCHEMA5_COLUMNS + _SCHEMA6_COLUMNS + _SCHEMA8_COLUMNS, (None, None)),
            (_SCHEMA5_COLUMNS + _SCHEMA6_COLUMNS, (None,) * 5),
            (_SCHEMA5_COLUMNS, (None,) * 6),
            ("", ("", "", *(None,) * 6)),  # not migrated: no guard kind, stage, text
        ):
            try:
                query = f"SELECT {_JSON_COLUMNS}{extra}{order}"
                rows = [(*row, *missing) for row in conn.execute(query)]
                break
            except sqlite3.OperationalError:
                continue
    finally:
        conn.close()
    out = []
    for r in rows:
        out.append({
            "id": r[0], "hypothesis": r[1], "plan": r[2], "backend": r[3], "state": r[4],
            "commit": r[5], "created_at": iso_time(r[6]), "started_at": iso_time(r[7]),
            "ended_at": iso_time(r[8]), "exit_code": r[9], "cost_per_hour": r[10],
            "cost_so_far": round(r[11], 6), "uptime_s": round(r[12], 3), "detail": r[13],
            "failure_class": r[14], "failure_line": r[15], "failure_source": r[16],
            "failure_line_no": r[17], "attempt": r[18], "parent": r[19],
            "warnings": [w for w in r[20].split(",") if w], "guard": r[21] or None,
            "guard_kind": r[23] or None, "cap": r[22], "stage": r[24] or None,
            "hypothesis_text": r[25], "loop": r[26], "iter": r[27], "verdict": r[28],
            "host": r[29],
            "gpus": None if r[29] is None else [int(i) for i in (r[30] or "").split(",") if i],
        })  # fmt: skip
    return out


def print_runs(project: Path, as_json: bool, limit: int | None) -> int:
    db = project / ".cockpit" / "state.db"
    if as_json:
        listing = runs_json(db, limit) if db.exists() else []
        # Indented for people; compact for pipes (scripts parse it either way).
        # `json.dumps` with no indent takes the C encoder; `json.dump` never does (it streams
        # through the pure-Python one, 6x slower on 1000 runs).
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(listing, indent=indent) + "\n")
        return 0
    from cockpit.store.reader import StoreReader

    reader = StoreReader(db, read_only=True) if db.exists() else None
    runs = reader.runs(limit=limit) if reader else []
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'RUN':<14} {'HYP':<5} {'STATE':<12} {'WHERE':<14} {'STARTED':<20} {'COST':>8}  PLAN")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
        where = run.backend + (f" GPU {','.join(str(i) for i in run.gpus)}" if run.gpus else "")
        print(
            f"{run.id:<14} {run.hypothesis:<5} {run.state:<12} {where:<14} {started:<20} "
            f"${run.cost_so_far:>7.2f}  {run.plan}"
        )
    return 0
