"""The store's schema, as numbered migrations: `PRAGMA user_version` says how many ran.

Append a migration to change the schema; never edit one that has shipped. Readers from an older
cockpit refuse a newer schema instead of misreading it.
"""

from __future__ import annotations

import math
import sqlite3

from cockpit.store.sqlite_file import pack_floats

SCHEMA_VERSION = 9

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        hypothesis TEXT NOT NULL,
        plan TEXT NOT NULL,
        backend TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        spec TEXT NOT NULL,
        handle TEXT,
        state TEXT NOT NULL,
        request_id TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        exit_code INTEGER,
        cost_per_hour REAL NOT NULL DEFAULT 0,
        cost_so_far REAL NOT NULL DEFAULT 0,
        uptime_s REAL NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_created ON runs(created_at);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        run_id TEXT,
        t REAL NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events(run_id, id);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL,
        t REAL NOT NULL,
        step REAL,
        key TEXT NOT NULL,
        value REAL
    );
    CREATE INDEX metrics_by_run_key ON metrics(run_id, key);
    CREATE TABLE cost_samples (
        run_id TEXT NOT NULL,
        t REAL NOT NULL,
        rate REAL NOT NULL,
        cost REAL NOT NULL
    );
    CREATE INDEX cost_by_run ON cost_samples(run_id, t);
    CREATE TABLE log_offsets (
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        parsed_offset INTEGER NOT NULL,
        PRIMARY KEY (run_id, source)
    );
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        t REAL NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        client TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        result TEXT NOT NULL DEFAULT '',
        run_id TEXT,
        done_at REAL
    );
    CREATE INDEX requests_pending ON requests(status, t);
    CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started_at REAL NOT NULL,
        t REAL NOT NULL
    );
    """,
]
MIGRATIONS.append(
    # 1 -> 2: supervision (failure classes, attempts, warnings, caps, delayed requests)
    """
    ALTER TABLE runs ADD COLUMN failure_class TEXT;
    ALTER TABLE runs ADD COLUMN failure_source TEXT;
    ALTER TABLE runs ADD COLUMN failure_line_no INTEGER;
    ALTER TABLE runs ADD COLUMN failure_line TEXT;
    ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE runs ADD COLUMN parent TEXT;
    ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN guard TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN cap REAL;
    ALTER TABLE requests ADD COLUMN not_before REAL NOT NULL DEFAULT 0;
    ALTER TABLE log_offsets ADD COLUMN prefix_bytes INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE anomalies (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        class TEXT NOT NULL,
        line TEXT NOT NULL
    );
    CREATE INDEX anomalies_by_run ON anomalies(run_id, id);
    CREATE TABLE cap_raises (
        id INTEGER PRIMARY KEY,
        t REAL NOT NULL,
        plan TEXT NOT NULL,
        hypothesis TEXT,
        cap REAL NOT NULL,
        client TEXT NOT NULL
    );
    """
)
MIGRATIONS.append(
    # 2 -> 3: metric samples in blocks, one row per key per ingested batch. A row per sample
    # capped ingest at ~580k samples/s (two B-trees per row); a block costs one row per key
    # per megabyte of log. `cockpit_f64` (registered by the store) packs one float64, so old
    # samples become one-sample blocks. Older readers would find no `metrics`: they must refuse.
    """
    CREATE TABLE metric_blocks (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        t REAL NOT NULL,
        n INTEGER NOT NULL,
        last REAL,
        lo REAL,
        hi REAL,
        steps BLOB NOT NULL,
        vals BLOB NOT NULL
    );
    CREATE INDEX metric_blocks_by_run_key ON metric_blocks(run_id, key, id);
    INSERT INTO metric_blocks (run_id, key, t, n, last, lo, hi, steps, vals)
        SELECT run_id, key, t, 1, value, value, value, cockpit_f64(step), cockpit_f64(value)
        FROM metrics ORDER BY rowid;
    DROP TABLE metrics;
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT OR REPLACE INTO meta (key, value) VALUES ('min_reader_version', '3')
    """
)
MIGRATIONS.append(
    # 3 -> 4 (additive): a change counter on runs, so a client re-reads only the runs that
    # changed (every poll moves the active run's cost; re-reading a long history each time
    # made an idle watch cost 3.5% of a core at 1000 runs).
    """
    ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE runs SET seq = rowid;
    CREATE INDEX runs_by_seq ON runs(seq)
    """
)
MIGRATIONS.append(
    # 4 -> 5 (additive): the controller's protocol as fields. `stage` is the side effect a run
    # is in (recorded before it starts, so a new supervisor completes or undoes it);
    # `stop_intent` is what a stop under way ends the run as; `guard_kind` says which guard
    # held a relaunch back (`guard` keeps the words). Standing alerts (a broken cockpit.toml)
    # live in `alerts` until their condition clears. Old rows get the stage their state and
    # detail imply; ended runs of the last day without a written result are wrapped up again.
    """
    ALTER TABLE runs ADD COLUMN stage TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN stop_intent TEXT;
    ALTER TABLE runs ADD COLUMN guard_kind TEXT NOT NULL DEFAULT '';
    UPDATE runs SET stage = CASE WHEN detail = 'pre-flight' THEN 'preflight' ELSE 'launching' END
        WHERE state IN ('starting', 'running') AND handle IS NULL;
    UPDATE runs SET stage = 'done' WHERE state NOT IN ('starting', 'running');
    UPDATE runs SET stage = 'wrap-up' WHERE state NOT IN ('starting', 'running')
        AND ended_at >= CAST(strftime('%s', 'now') AS REAL) - 86400
        AND NOT EXISTS (SELECT 1 FROM events WHERE events.run_id = runs.id
                        AND events.kind IN ('result', 'result-skipped'));
    UPDATE runs SET guard_kind = 'stopped-on-request' WHERE guard = 'stopped on request';
    CREATE INDEX runs_by_stage ON runs(stage);
    CREATE TABLE alerts (
        key TEXT PRIMARY KEY,
        run_id TEXT,
        t REAL NOT NULL,
        message TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """
)
MIGRATIONS.append(
    # 5 -> 6 (additive): the hypothesis line a run was launched for (its text, with the
    # threshold, cap and expected time in it). Write-back and the health rules find the
    # hypothesis by it: the id of an unprefixed line is its position, which moves.
    """
    ALTER TABLE runs ADD COLUMN hypothesis_text TEXT
    """
)
MIGRATIONS.append(
    # 6 -> 7 (additive): the byte offset in the mirror where an anomaly's line starts, so the
    # UI's "jump to failure" seeks there instead of reading a log from its first byte (NULL
    # for anomalies found before: those are found by reading up to the line).
    """
    ALTER TABLE anomalies ADD COLUMN offset INTEGER
    """
)
MIGRATIONS.append(
    # 7 -> 8 (additive): loops over a plan (`cockpit loop start`): their state lives here so a
    # supervisor restarted mid-loop resumes it; the tick in flight is the launch request it
    # wrote (`pending_request`, executed exactly once by the request desk). Runs say which
    # loop and iteration they belong to, and the verdict write-back gave them.
    """
    CREATE TABLE loops (
        id TEXT PRIMARY KEY,
        plan TEXT NOT NULL,
        state TEXT NOT NULL,
        max_ticks INTEGER,
        every_s REAL,
        ticks INTEGER NOT NULL DEFAULT 0,
        tried TEXT NOT NULL DEFAULT '[]',
        counted TEXT NOT NULL DEFAULT '[]',
        rejected_streak INTEGER NOT NULL DEFAULT 0,
        pending_request TEXT,
        last_tick_at REAL,
        started_at REAL NOT NULL,
        ended_at REAL,
        stop_mode TEXT,
        stop_reason TEXT,
        end_state TEXT,
        report TEXT
    );
    CREATE INDEX loops_by_state ON loops(state);
    ALTER TABLE runs ADD COLUMN loop_id TEXT;
    ALTER TABLE runs ADD COLUMN loop_iter INTEGER;
    ALTER TABLE runs ADD COLUMN verdict TEXT
    """
)
MIGRATIONS.append(
    # 8 -> 9 (additive): GPU placement (issue 20). Where a run was placed (`host`: the backend
    # or pool member; `gpus`: its indices, comma-separated; `pool`: the pool it was launched
    # on, which a relaunch places on again) and what it asks for; a queued
    # run (state 'queued') has the demand and no place yet. The queue's order is `created_at`.
    # Each placed host's GPUs as last asked (`gpus`, with a short utilisation history for the
    # GPU view) and when, or why not (`gpu_hosts`).
    """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN gpus TEXT;
    ALTER TABLE runs ADD COLUMN want_gpus INTEGER;
    ALTER TABLE runs ADD COLUMN want_vram_gb REAL;
    ALTER TABLE runs ADD COLUMN pool TEXT;
    CREATE TABLE gpu_hosts (
        host TEXT PRIMARY KEY,
        t REAL NOT NULL,
        error TEXT
    );
    CREATE TABLE gpus (
        host TEXT NOT NULL,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        uuid TEXT NOT NULL,
        mem_used REAL NOT NULL,
        mem_total REAL NOT NULL,
        util REAL,
        temp REAL,
        power REAL,
        pids TEXT NOT NULL DEFAULT '',
        history TEXT NOT NULL DEFAULT '',
        t REAL NOT NULL,
        PRIMARY KEY (host, idx)
    )
    """
)
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: sqlite3.Connection) -> None:
    """Run the migrations this store has not had, each in its own transaction (another
    process may migrate at the same time: each step checks the version again under the lock)."""
    # Used by migration 3 to turn one old sample into a one-sample block.
    conn.create_function(
        "cockpit_f64", 1, lambda x: pack_floats([math.nan if x is None else x]), deterministic=True
    )
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return  # a newer cockpit's store: checked (and refused for writing) by the caller
    for target in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current <= target:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def min_reader_version(conn: sqlite3.Connection) -> int:
    """How old a reader a newer cockpit allows (`meta.min_reader_version`; none: any)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'min_reader_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table: every migration so far is additive
        return 0
    return int(row[0]) if row else 0
