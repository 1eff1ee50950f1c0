"""Each placed host's GPUs as the supervisor last asked them (issue 20): what the GPU view shows
and `cockpit gpus` prints. One row per GPU (replaced at each ask, with a short utilisation
history kept in the row) and one per host (when it was asked, or why it could not be).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

HISTORY = 60
"""Utilisation samples kept per GPU (one per ask: about five minutes at the default pace)."""


@dataclass(frozen=True)
class GpuRow:
    host: str
    index: int
    name: str
    uuid: str
    memory_used_mb: float
    memory_total_mb: float
    utilization: float | None = None
    temperature: float | None = None
    power: float | None = None
    pids: tuple[int, ...] = ()
    history: tuple[float, ...] = ()
    """Utilisation, oldest first (unknown samples left out)."""
    t: float = 0.0


@dataclass(frozen=True)
class GpuHost:
    host: str
    t: float
    error: str | None


def record_gpus(conn: sqlite3.Connection, host: str, rows: list[GpuRow], t: float) -> None:
    """Replace `host`'s GPUs with `rows`, each keeping its utilisation history."""
    kept = {
        index: history
        for index, history in conn.execute(
            "SELECT idx, history FROM gpus WHERE host = ?", (host,)
        ).fetchall()
    }
    conn.execute("DELETE FROM gpus WHERE host = ?", (host,))
    for row in rows:
        history = [part for part in str(kept.get(row.index, "")).split(",") if part]
        if row.utilization is not None:
            history.append(f"{row.utilization:g}")
        conn.execute(
            "INSERT INTO gpus (host, idx, name, uuid, mem_used, mem_total, util, temp, power, "
            "pids, history, t) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                host, row.index, row.name, row.uuid, row.memory_used_mb, row.memory_total_mb,
                row.utilization, row.temperature, row.power,
                ",".join(str(pid) for pid in row.pids), ",".join(history[-HISTORY:]), t,
            ),
        )  # fmt: skip
    conn.execute("INSERT OR REPLACE INTO gpu_hosts (host, t, error) VALUES (?, ?, NULL)", (host, t))


def record_gpu_failure(conn: sqlite3.Connection, host: str, error: str, t: float) -> None:
    """`host` could not be asked: its GPUs stay as last seen, the host row says why."""
    conn.execute(
        "INSERT OR REPLACE INTO gpu_hosts (host, t, error) VALUES (?, ?, ?)", (host, t, error)
    )


def read_gpus(conn: sqlite3.Connection) -> tuple[list[GpuHost], list[GpuRow]]:
    """Every host asked and every GPU seen, by host then index (nothing on an older store)."""
    try:
        hosts = conn.execute("SELECT host, t, error FROM gpu_hosts ORDER BY host").fetchall()
        rows = conn.execute("SELECT * FROM gpus ORDER BY host, idx").fetchall()
    except sqlite3.OperationalError:  # a store before schema 9
        return [], []
    return (
        [GpuHost(host, t, error) for host, t, error in hosts],
        [
            GpuRow(
                row["host"], row["idx"], row["name"], row["uuid"], row["mem_used"],
                row["mem_total"], row["util"], row["temp"], row["power"],
                tuple(int(pid) for pid in row["pids"].split(",") if pid),
                tuple(float(v) for v in row["history"].split(",") if v), row["t"],
            )
            for row in rows
        ],
    )  # fmt: skip
