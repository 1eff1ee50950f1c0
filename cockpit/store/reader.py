"""Reading the store: opening it (WAL, migrations, read-only for watch), and the queries over
runs, metrics, costs, offsets, requests and alerts that the panes, the health facts and the CLI
ask. The supervisor's writer (`cockpit.store.writer.Store`) extends this reader."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

from cockpit.core.protocol import Command, to_payload
from cockpit.core.records import (
    Alert,
    Anomaly,
    Event,
    Heartbeat,
    LoopRecord,
    Request,
    RunRecord,
    loop_from_row,
    request_from_row,
    run_from_row,
)
from cockpit.store.metric_queries import MetricQueries
from cockpit.store.migrations import SCHEMA_VERSION, migrate, min_reader_version
from cockpit.store.sqlite_file import StoreError, connect, store_problem
from cockpit.store.wake import nudge


class StoreReader:
    """Read access to the store, for every client (and the supervisor's `Store`): the queries
    the panes, the health facts and the CLI ask, and the one write a client makes, a request.
    `read_only=True` opens the file with `mode=ro`."""

    def __init__(self, path: Path, read_only: bool = False, handed_over: bool = False) -> None:
        """`handed_over`: the connection may be used by another thread than the one opening
        it (never by two at once: the UI's feed reads once on the loop, then in its thread)."""
        self.path = path
        self.read_only = read_only
        if read_only and not path.exists():
            raise StoreError(f"no store at {path}: nothing has run in this project yet")
        try:
            self.conn = connect(path, read_only, same_thread=not handed_over)
            if not read_only:
                migrate(self.conn)
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(store_problem(path, exc)) from exc
        self.metrics = MetricQueries(self.conn)
        """The metric samples: series, stats, newest samples."""
        self.schema_version: int = version
        """The store's schema: older than `SCHEMA_VERSION` only for a read-only reader (which
        cannot migrate); the runs table reads the same, newer tables may be missing."""
        if version > SCHEMA_VERSION:
            # A newer cockpit migrated the store. Additive migrations keep older readers
            # working (watch mode across an upgrade); the newer code says how old a reader
            # may be in `meta.min_reader_version`, absent meaning "any".
            oldest = min_reader_version(self.conn)
            if oldest > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} has schema version {version} and needs a reader of version "
                    f"{oldest}; this cockpit knows {SCHEMA_VERSION}: upgrade cockpit"
                )
            if not read_only:
                raise StoreError(
                    f"{path} has schema version {version}; this cockpit knows "
                    f"{SCHEMA_VERSION}: it may read it (watch) but not write: upgrade cockpit"
                )

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def submit_request(self, command: Command, client: str, not_before: float = 0.0) -> str:
        """The one write a client makes: ask the supervisor to do something (not before
        `not_before`, for the supervisor's own delayed relaunches)."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        request_id = uuid.uuid4().hex[:12]
        self.conn.execute(
            "INSERT INTO requests (id, t, kind, payload, client, not_before) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, time.time(), command.KIND, json.dumps(to_payload(command)), client,
             not_before),
        )  # fmt: skip
        if not self.conn.in_transaction:  # committed: the supervisor may look now
            nudge(self.path)
        return request_id

    def runs_version(self) -> int:
        """The runs' latest change number: unchanged, no run changed."""
        return int(self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM runs").fetchone()[0])

    def run_changes(self, since: int, limit: int = 1000) -> tuple[int, list[RunRecord]]:
        """The latest change number, and the runs changed after `since`: for 0, the newest
        `limit` runs (a client's first read)."""
        latest = self.runs_version()
        if since == 0:
            return latest, self.runs(limit=limit)
        if latest == since:
            return latest, []
        rows = self.conn.execute("SELECT * FROM runs WHERE seq > ?", (since,)).fetchall()
        return latest, [run_from_row(row) for row in rows]

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [run_from_row(row) for row in self.conn.execute(sql).fetchall()]

    def run(self, run_id: str) -> RunRecord | None:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return run_from_row(row) if row else None

    def find_run(self, prefix: str) -> RunRecord | None:
        """The run with this id, or the only one it is a prefix of."""
        found = self.runs_matching(prefix)
        return found[0] if len(found) == 1 else None

    def runs_matching(self, prefix: str) -> list[RunRecord]:
        """The run with this id; else every run whose id starts with it, newest first."""
        exact = self.run(prefix)
        if exact:
            return [exact]
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE id LIKE ? ORDER BY created_at DESC", (prefix + "%",)
        ).fetchall()
        return [run_from_row(row) for row in rows]

    def active_runs(self) -> list[RunRecord]:
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE state IN ('queued', 'starting', 'running') "
            "ORDER BY created_at, rowid"
        ).fetchall()
        return [run_from_row(row) for row in rows]

    def active_backends(self) -> dict[str, int]:
        """Backend name -> how many of its runs are queued for a place (every backend with an
        active run is listed): one small query, where the runs themselves are not needed."""
        rows = self.conn.execute(
            "SELECT backend, SUM(state = 'queued') FROM runs "
            "WHERE state IN ('queued', 'starting', 'running') GROUP BY backend"
        ).fetchall()
        return {backend: int(queued) for backend, queued in rows}

    def events(self, run_id: str | None = None, limit: int = 50) -> list[Event]:
        if run_id is None:
            sql, args = "SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,)
        else:
            sql = "SELECT * FROM events WHERE run_id = ? ORDER BY id DESC LIMIT ?"
            args = (run_id, limit)  # type: ignore[assignment]
        rows = self.conn.execute(sql, args).fetchall()
        return [Event(r["id"], r["run_id"], r["t"], r["kind"], r["message"]) for r in rows][::-1]

    def anomalies(self, run_id: str) -> list[Anomaly]:
        rows = self.conn.execute(
            "SELECT * FROM anomalies WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return [
            Anomaly(r["run_id"], r["source"], r["line_no"], r["class"], r["line"]) for r in rows
        ]

    def line_offset(self, run_id: str, source: str, line_no: int) -> int | None:
        """Where line `line_no` of a run's `source` mirror starts, if an anomaly recorded it."""
        row = self.conn.execute(
            "SELECT offset FROM anomalies WHERE run_id = ? AND source = ? AND line_no = ? "
            "AND offset IS NOT NULL LIMIT 1",
            (run_id, source, line_no),
        ).fetchone()
        return None if row is None else int(row[0])

    def raised_cap(self, plan: str, hypothesis: str | None) -> float | None:
        """The newest cap raise for a hypothesis (or, with None, for the whole plan)."""
        row = self.conn.execute(
            "SELECT cap FROM cap_raises WHERE plan = ? AND hypothesis IS ? ORDER BY id DESC",
            (plan, hypothesis),
        ).fetchone()
        return float(row[0]) if row else None

    def plan_cost(self, plan: str) -> float:
        row = self.conn.execute(
            "SELECT COALESCE(SUM(cost_so_far), 0) FROM runs WHERE plan = ?", (plan,)
        ).fetchone()
        return float(row[0])

    def last_success_seconds(self, plan: str) -> float | None:
        """How long the plan's latest succeeded run trained (asked every poll: one row, not
        every run of the plan)."""
        row = self.conn.execute(
            "SELECT ended_at - started_at FROM runs WHERE plan = ? AND state = 'succeeded' "
            "AND started_at AND ended_at ORDER BY created_at DESC, id DESC LIMIT 1",
            (plan,),
        ).fetchone()
        return float(row[0]) if row is not None else None

    def cost_since(self, t: float) -> float:
        """Cost of the runs created since `t` (e.g. local midnight: today's spend)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(cost_so_far), 0) FROM runs WHERE created_at >= ?", (t,)
        ).fetchone()
        return float(row[0])

    def runs_in_stage(self, *stages: str) -> list[RunRecord]:
        """Runs in the middle of a side effect (launch, stop, wrap-up), oldest first."""
        marks = ", ".join("?" * len(stages))
        rows = self.conn.execute(
            f"SELECT * FROM runs WHERE stage IN ({marks}) ORDER BY created_at", stages
        ).fetchall()
        return [run_from_row(row) for row in rows]

    def has_work(self) -> bool:
        """An active run or loop, a pending request, or a stop or terminate not finished (a
        result row waiting for its plan does not keep a supervisor up: the next one writes
        it)."""
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE state IN ('queued', 'starting', 'running') "
            "OR stage IN ('stopping', 'wrap-up')) "
            "OR EXISTS (SELECT 1 FROM requests WHERE status = 'pending') "
            "OR EXISTS (SELECT 1 FROM loops WHERE state != 'ended')"
        ).fetchone()
        return bool(row[0])

    def alerts(self) -> list[Alert]:
        """The supervisor's standing alerts, oldest first (none on a store before schema 5)."""
        try:
            rows = self.conn.execute("SELECT * FROM alerts ORDER BY t").fetchall()
        except sqlite3.OperationalError:
            return []
        return [Alert(row["key"], row["run_id"], row["t"], row["message"]) for row in rows]

    def meta(self, key: str) -> object:
        """A JSON value the supervisor keeps in `meta` (the config it enforces), or None."""
        import json

        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return json.loads(row[0]) if row else None

    def runs_of(self, plan: str, hypothesis: str | None = None) -> list[RunRecord]:
        """Runs of a plan (or of one hypothesis), newest first."""
        if hypothesis is None:
            rows = self.conn.execute(
                "SELECT * FROM runs WHERE plan = ? ORDER BY created_at DESC", (plan,)
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM runs WHERE plan = ? AND hypothesis = ? ORDER BY created_at DESC",
                (plan, hypothesis),
            ).fetchall()
        return [run_from_row(row) for row in rows]

    def prefix_bytes(self, run_id: str, source: str) -> int:
        return self._log_offset("prefix_bytes", run_id, source)

    def parsed_offset(self, run_id: str, source: str) -> int:
        return self._log_offset("parsed_offset", run_id, source)

    def _log_offset(self, column: str, run_id: str, source: str) -> int:
        row = self.conn.execute(
            f"SELECT {column} FROM log_offsets WHERE run_id = ? AND source = ?", (run_id, source)
        ).fetchone()
        return int(row[0]) if row else 0

    def loops(self, active_only: bool = False) -> list[LoopRecord]:
        """Loops, newest first (the active ones only, if asked)."""
        where = " WHERE state != 'ended'" if active_only else ""
        try:
            rows = self.conn.execute(
                f"SELECT * FROM loops{where} ORDER BY started_at DESC, id DESC"
            ).fetchall()
        except sqlite3.OperationalError:  # a store from before loops (read-only watch)
            return []
        return [loop_from_row(row) for row in rows]

    def loop(self, loop_id: str) -> LoopRecord | None:
        row = self.conn.execute("SELECT * FROM loops WHERE id = ?", (loop_id,)).fetchone()
        return loop_from_row(row) if row else None

    def runs_of_loop(self, loop_id: str) -> list[RunRecord]:
        """The runs of a loop's ticks, oldest first (relaunch attempts included)."""
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE loop_id = ? ORDER BY created_at, id", (loop_id,)
        ).fetchall()
        return [run_from_row(row) for row in rows]

    def open_relaunch(self, run_id: str) -> bool:
        """An automatic relaunch of `run_id` is waiting (its backoff) or under way."""
        rows = self.conn.execute(
            "SELECT payload FROM requests WHERE kind = 'relaunch' AND status IN "
            "('pending', 'running')"
        ).fetchall()
        return any(json.loads(row[0]).get("run_id") == run_id for row in rows)

    def request(self, request_id: str) -> Request | None:
        row = self.conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return request_from_row(row) if row else None

    def pending_requests(self, now: float | None = None) -> list[Request]:
        """Pending requests, oldest first; with `now`, only those due by then."""
        rows = self.conn.execute(
            "SELECT * FROM requests WHERE status = 'pending' AND not_before <= ? ORDER BY t, id",
            (float("inf") if now is None else now,),
        ).fetchall()
        return [request_from_row(row) for row in rows]

    def heartbeat(self) -> Heartbeat | None:
        row = self.conn.execute("SELECT * FROM heartbeat WHERE id = 1").fetchone()
        if row is None:
            return None
        return Heartbeat(row["pid"], row["host"], row["started_at"], row["t"])
