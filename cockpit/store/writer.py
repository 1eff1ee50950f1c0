"""The run store: `.cockpit/state.db`, SQLite in WAL mode, shared by processes.

The supervisor is the only writer of runs, events, metrics, cost samples and offsets. Clients
(the UIs, the CLI) read, and write just one thing: request rows, which the supervisor claims and
executes exactly once. Readers use autocommit so they never hold a read transaction open (which
would block checkpoints), and notice new writes through `PRAGMA data_version`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cockpit.core.protocol import RequestStatus
from cockpit.core.records import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    Event,
    Heartbeat,
    Request,
    RunRecord,
    request_from_row,
    run_from_row,
)
from cockpit.store.migrations import SCHEMA_VERSION
from cockpit.store.reader import StoreReader
from cockpit.store.sqlite_file import StoreError, pack_floats

__all__ = [
    "ACTIVE_STATES",
    "SCHEMA_VERSION",
    "TERMINAL_STATES",
    "Event",
    "Heartbeat",
    "Request",
    "RunRecord",
    "Store",
    "StoreError",
    "StoreReader",
]


_NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)"
"""Every write to a run takes the next change number (the supervisor is the only writer)."""


class Store:
    """The supervisor's writes to the store; `reader` (on the same connection) reads."""

    def __init__(self, path: Path) -> None:
        self.reader = StoreReader(path, read_only=False)
        self.path = path
        self.conn = self.reader.conn
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA journal_size_limit=67108864")

    def close(self) -> None:
        self.reader.close()

    def _write(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def create_run(self, record: RunRecord) -> None:
        self._write(
            "INSERT INTO runs (id, hypothesis, plan, backend, commit_sha, spec, handle, state, "
            "request_id, created_at, started_at, ended_at, exit_code, cost_per_hour, "
            "cost_so_far, uptime_s, detail, attempt, parent, cap, stage, hypothesis_text, "
            "loop_id, loop_iter, want_gpus, want_vram_gb, seq) "
            f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,{_NEXT_SEQ})",
            (
                record.id,
                record.hypothesis,
                record.plan,
                record.backend,
                record.commit,
                json.dumps(record.spec),
                json.dumps(record.handle) if record.handle else None,
                record.state,
                record.request_id,
                record.created_at,
                record.started_at,
                record.ended_at,
                record.exit_code,
                record.cost_per_hour,
                record.cost_so_far,
                record.uptime_s,
                record.detail,
                record.attempt,
                record.parent,
                record.cap,
                record.stage,
                record.hypothesis_text,
                record.loop_id,
                record.loop_iter,
                record.want_gpus,
                record.want_vram_gb,
            ),
        )

    _RUN_COLUMNS = frozenset(
        {
            "handle",
            "state",
            "started_at",
            "ended_at",
            "exit_code",
            "cost_per_hour",
            "cost_so_far",
            "uptime_s",
            "detail",
            "failure_class",
            "failure_source",
            "failure_line_no",
            "failure_line",
            "warnings",
            "guard",
            "cap",
            "stage",
            "stop_intent",
            "guard_kind",
            "verdict",
            "backend",
            "host",
            "gpus",
            "spec",
            "pool",
        }
    )

    def update_run(self, run_id: str, **fields: Any) -> None:
        unknown = set(fields) - self._RUN_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "handle" in fields and fields["handle"] is not None:
            fields["handle"] = json.dumps(fields["handle"])
        if "gpus" in fields:
            fields["gpus"] = ",".join(str(index) for index in fields["gpus"])
        if "spec" in fields:
            fields["spec"] = json.dumps(fields["spec"])
        if "warnings" in fields:
            fields["warnings"] = ",".join(fields["warnings"])
        if "stop_intent" in fields and fields["stop_intent"] is not None:
            fields["stop_intent"] = json.dumps(fields["stop_intent"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._write(
            f"UPDATE runs SET {assignments}, seq = {_NEXT_SEQ} WHERE id = ?",
            (*fields.values(), run_id),
        )

    def create_loop(
        self, loop_id: str, plan: str, max_ticks: int | None, every_s: float | None, now: float
    ) -> None:
        self._write(
            "INSERT INTO loops (id, plan, state, max_ticks, every_s, started_at) "
            "VALUES (?, ?, 'running', ?, ?, ?)",
            (loop_id, plan, max_ticks, every_s, now),
        )

    _LOOP_COLUMNS = frozenset(
        {
            "state", "ticks", "tried", "counted", "rejected_streak", "pending_request",
            "last_tick_at", "ended_at", "stop_mode", "stop_reason", "end_state", "report",
        }
    )  # fmt: skip

    def update_loop(self, loop_id: str, **fields: Any) -> None:
        unknown = set(fields) - self._LOOP_COLUMNS
        if unknown:
            raise ValueError(f"unknown loop column(s): {sorted(unknown)}")
        values = [
            json.dumps(list(v)) if isinstance(v, tuple | list) else v for v in fields.values()
        ]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._write(f"UPDATE loops SET {assignments} WHERE id = ?", (*values, loop_id))

    def add_event(
        self, run_id: str | None, kind: str, message: str, t: float | None = None
    ) -> None:
        self._write(
            "INSERT INTO events (run_id, t, kind, message) VALUES (?, ?, ?, ?)",
            (run_id, t if t is not None else time.time(), kind, message),
        )

    def add_metrics(
        self, run_id: str, samples: Iterable[tuple[float, float | None, str, float]]
    ) -> None:
        """(t, step, key, value) samples: one block per key (in order), timed by its last."""
        by_key: dict[str, tuple[list[float], list[float]]] = {}
        last_t = 0.0
        for t, step, key, value in samples:
            last_t = t
            steps, values = by_key.setdefault(key, ([], []))
            steps.append(math.nan if step is None else step)
            values.append(value)
        for key, (steps, values) in by_key.items():
            self.add_metric_block(run_id, key, last_t, steps, values)

    def add_metric_block(
        self, run_id: str, key: str, t: float, steps: list[float], values: list[float]
    ) -> None:
        """Samples of one key parsed together (NaN for an unknown step), as one row."""
        if not values:
            return
        known = [value for value in values if value == value]  # NaN is not a value
        self.conn.execute(
            "INSERT INTO metric_blocks (run_id, key, t, n, last, lo, hi, steps, vals) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                key,
                t,
                len(values),
                known[-1] if known else None,
                min(known) if known else None,
                max(known) if known else None,
                pack_floats(steps),
                pack_floats(values),
            ),
        )

    def add_cost_sample(self, run_id: str, t: float, rate: float, cost: float) -> None:
        self._write(
            "INSERT INTO cost_samples (run_id, t, rate, cost) VALUES (?, ?, ?, ?)",
            (run_id, t, rate, cost),
        )

    def add_anomaly(
        self,
        run_id: str,
        source: str,
        line_no: int,
        kind: str,
        line: str,
        offset: int | None = None,
    ) -> None:
        """A log line pointing to a failure; `offset`: where it starts in the mirror."""
        self._write(
            "INSERT INTO anomalies (run_id, source, line_no, class, line, offset) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, source, line_no, kind, line, offset),
        )

    def raise_cap(self, plan: str, hypothesis: str | None, cap: float, client: str) -> None:
        self._write(
            "INSERT INTO cap_raises (t, plan, hypothesis, cap, client) VALUES (?, ?, ?, ?, ?)",
            (time.time(), plan, hypothesis, cap, client),
        )

    def set_prefix_bytes(self, run_id: str, source: str, prefix: int) -> None:
        """Bytes at the start of a mirror that did not come from the backend (pre-flight)."""
        self._write(
            "INSERT INTO log_offsets (run_id, source, parsed_offset, prefix_bytes) "
            "VALUES (?, ?, 0, ?) ON CONFLICT (run_id, source) DO UPDATE SET "
            "prefix_bytes = excluded.prefix_bytes",
            (run_id, source, prefix),
        )

    def set_parsed_offset(self, run_id: str, source: str, offset: int) -> None:
        self._write(
            "INSERT INTO log_offsets (run_id, source, parsed_offset) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, source) DO UPDATE SET parsed_offset = excluded.parsed_offset",
            (run_id, source, offset),
        )

    def claim_request(self, request_id: str) -> bool:
        """Mark a pending request as being executed; False if someone already did."""
        cursor = self._write(
            "UPDATE requests SET status = 'running' WHERE id = ? AND status = 'pending'",
            (request_id,),
        )
        return cursor.rowcount == 1

    def finish_request(
        self, request_id: str, status: RequestStatus, result: str, run_id: str | None = None
    ) -> None:
        self._write(
            "UPDATE requests SET status = ?, result = ?, run_id = COALESCE(?, run_id), "
            "done_at = ? WHERE id = ?",
            (status, result, run_id, time.time(), request_id),
        )

    def attach_request(self, request_id: str, run_id: str) -> None:
        """A request that joins work under way for `run_id` (a second stop): it stays running
        and is finished with that work (`finish_joined`)."""
        self._write("UPDATE requests SET run_id = ? WHERE id = ?", (run_id, request_id))

    def finish_joined(self, run_id: str, kind: str, status: RequestStatus, result: str) -> None:
        """Finish every request of `kind` still running for `run_id` (those that joined)."""
        self._write(
            "UPDATE requests SET status = ?, result = ?, done_at = ? "
            "WHERE run_id = ? AND kind = ? AND status = 'running'",
            (status, result, time.time(), run_id, kind),
        )

    def recover_interrupted_requests(self) -> None:
        """Requests a killed supervisor was executing: done if their run exists; otherwise
        pending again. Executing one twice is safe: a launch or relaunch first looks for the run
        its request made, a stop for a stop under way, and a raise is idempotent."""
        for request in self.interrupted_requests():
            run = self.run_for_request(request.id)
            if run is not None and request.kind != "stop":
                self.finish_request(request.id, RequestStatus.DONE, f"launched {run.id}", run.id)
            else:
                self._write("UPDATE requests SET status = 'pending' WHERE id = ?", (request.id,))

    def set_alert(self, key: str, message: str, run_id: str | None = None) -> bool:
        """Raise (or update) a standing alert; True when it is new or its message changed."""
        row = self.conn.execute("SELECT message FROM alerts WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] == message:
            return False
        self._write(
            "INSERT INTO alerts (key, run_id, t, message) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET run_id = excluded.run_id, t = excluded.t, message = excluded.message",
            (key, run_id, time.time(), message),
        )
        return True

    def clear_alert(self, key: str) -> bool:
        """End a standing alert; True when there was one."""
        return self._write("DELETE FROM alerts WHERE key = ?", (key,)).rowcount == 1

    def set_meta(self, key: str, value: Any) -> None:
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def interrupted_requests(self) -> list[Request]:
        rows = self.conn.execute("SELECT * FROM requests WHERE status = 'running'").fetchall()
        return [request_from_row(row) for row in rows]

    def run_for_request(self, request_id: str) -> RunRecord | None:
        row = self.conn.execute("SELECT * FROM runs WHERE request_id = ?", (request_id,)).fetchone()
        return run_from_row(row) if row else None

    def beat(self, started_at: float) -> None:
        self._write(
            "INSERT INTO heartbeat (id, pid, host, started_at, t) VALUES (1, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, "
            "started_at = excluded.started_at, t = excluded.t",
            (os.getpid(), socket.gethostname(), started_at, time.time()),
        )


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
