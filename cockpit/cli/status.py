"""`cockpit status --tmux | --json`: one line for tmux's status-right, many times a minute.

Only the standard library (and cockpit's stdlib-only lock and protocol modules) is imported
here, no Textual: the store is read with sqlite3 directly, read-only, and the lock file says
whether a supervisor runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from cockpit.core.protocol import INFO_WARNINGS
from cockpit.store.disk_room import disk_full
from cockpit.store.supervisor_lock import supervisor_alive

MARKS = {"queued": "⋯", "starting": "◔", "running": "▶", "succeeded": "✓", "failed": "✗",
         "stopped": "■", "cap-exceeded": "$", "?unreachable": ""}  # fmt: skip


def gather(project: Path, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    db = project / ".cockpit" / "state.db"
    alive = supervisor_alive(project / ".cockpit" / "supervisor.lock")
    full = disk_full(project / ".cockpit")
    if not db.exists():
        return {"run": None, "active": 0, "running": 0, "queued": 0, "supervisor": alive,
                "enforced": True, "alerts": [], "disk_full": full, "loops": []}  # fmt: skip
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, timeout=2)
    try:
        conn.row_factory = sqlite3.Row
        counts = dict(
            conn.execute(
                "SELECT state, COUNT(*) FROM runs WHERE state IN ('queued', 'starting', 'running') "
                "GROUP BY state"
            ).fetchall()
        )
        running = counts.get("starting", 0) + counts.get("running", 0)
        active = running + counts.get("queued", 0)
        row = conn.execute(
            "SELECT * FROM runs ORDER BY state IN ('starting', 'running') DESC, "
            "state = 'queued' DESC, created_at DESC "
            "LIMIT 1"
        ).fetchone()
        run = None
        if row is not None:

            def last(key: str) -> float | None:
                try:
                    found = conn.execute(
                        "SELECT last FROM metric_blocks WHERE run_id = ? AND key = ? "
                        "AND last IS NOT NULL ORDER BY id DESC LIMIT 1",
                        (row["id"], key),
                    ).fetchone()
                except sqlite3.OperationalError:  # a store no writer has migrated yet
                    found = conn.execute(
                        "SELECT value FROM metrics WHERE run_id = ? AND key = ? "
                        "AND value IS NOT NULL ORDER BY rowid DESC LIMIT 1",
                        (row["id"], key),
                    ).fetchone()
                return None if found is None else float(found[0])

            live = row["state"] in ("starting", "running") and row["started_at"]
            uptime = max(row["uptime_s"], now - row["started_at"]) if live else row["uptime_s"]
            warnings = [w for w in row["warnings"].split(",") if w]
            state = row["state"]
            if live and "unreachable" in warnings:
                state = "?unreachable"  # its last known state, not a fact now
            run = {
                "id": row["id"],
                "hypothesis": row["hypothesis"],
                "state": state,
                "uptime_s": round(uptime, 1),
                "step": last("step"),
                "loss": last("loss"),
                "cost_so_far": round(row["cost_so_far"], 4),
                "cap": row["cap"],
                "warnings": [w for w in warnings if w not in INFO_WARNINGS and w != "unreachable"],
                "failure_class": row["failure_class"],
            }
        alerts = _alerts(conn)
        loops = _loops(conn)
    finally:
        conn.close()
    return {
        "run": run,
        "active": active,
        "running": running,
        "queued": active - running,
        "supervisor": alive,
        "enforced": alive or not active,
        "alerts": alerts,
        "disk_full": full,
        "loops": loops,
    }


def _loops(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The loops running (`cockpit loop start`): their plan, ticks done and maximum."""
    try:
        rows = conn.execute(
            "SELECT id, plan, state, ticks, max_ticks FROM loops WHERE state != 'ended' "
            "ORDER BY started_at"
        ).fetchall()
    except sqlite3.OperationalError:  # a store from before loops existed
        return []
    return [
        {"id": row[0], "plan": row[1], "state": row[2], "ticks": row[3], "max": row[4]}
        for row in rows
    ]


def _alerts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The supervisor's standing alerts (a broken cockpit.toml): until their cause is fixed."""
    try:
        rows = conn.execute("SELECT key, run_id, message FROM alerts ORDER BY t").fetchall()
    except sqlite3.OperationalError:  # a store from before alerts existed
        return []
    return [{"key": row[0], "run_id": row[1], "message": row[2]} for row in rows]


def tmux_line(status: dict[str, Any]) -> str:
    run = status["run"]
    if run is None:
        return "cockpit: no runs"
    parts = [f"{run['id']} {MARKS.get(run['state'], '?')}{run['state']}"]
    running, queued = status.get("running", 0), status.get("queued", 0)
    if queued or running > 1:  # many runs at once: how many, before the newest's figures
        parts.insert(0, f"{running} running · {queued} queued" if queued else f"{running} running")
    for loop in status.get("loops", []):  # `iter 3/5` while a loop runs
        parts.insert(0, f"iter {loop['ticks']}/{loop['max'] or '∞'}")
    if run["step"] is not None:
        parts.append(f"step {run['step']:g}")
    if run["loss"] is not None:
        parts.append(f"loss {run['loss']:.4g}")
    spent = run["cost_so_far"]
    cost = f"${spent:.2f}" if spent >= 10 else f"${spent:.3f}"
    if run["cap"]:
        cost += f"/${run['cap']:g}"
    parts.append(cost)
    if run["failure_class"]:
        parts.append(run["failure_class"])
    parts += [f"⚠{w}" for w in run["warnings"]]
    if not status["enforced"]:
        parts.append("⚠NOT SUPERVISED")
    parts += [f"⚠{alert['key']}" for alert in status.get("alerts", [])]
    if status.get("disk_full"):
        parts.append("⚠DISK FULL")
    return " ".join(parts).replace("#", "##")  # tmux would read #... as a format


def main(project: Path, as_json: bool) -> int:
    status = gather(project)
    print(json.dumps(status) if as_json else tmux_line(status))
    return 0
