"""The SQLite store: schema, requests executed once, read-only clients that cannot write."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

import pytest

from cockpit.core.protocol import StopRequest
from cockpit.core.records import RunRecord
from cockpit.store.migrations import SCHEMA_VERSION
from cockpit.store.reader import StoreReader
from cockpit.store.sqlite_file import StoreError
from cockpit.store.writer import Store
from tests.readings import metric_count


def record(run_id: str = "h1-abc", state: str = "starting") -> RunRecord:
    return RunRecord(
        id=run_id,
        hypothesis="H1",
        plan="hypotheses.md",
        backend="local",
        commit="c0ffee",
        spec={"command": "x"},
        handle=None,
        state=state,
        request_id=None,
        created_at=100.0,
        started_at=None,
        ended_at=None,
        exit_code=None,
        cost_per_hour=0.0,
        cost_so_far=0.0,
        uptime_s=0.0,
        detail="",
    )


def test_schema_version_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again does not migrate twice.
    Store(tmp_path / "state.db").close()


def test_a_newer_additive_schema_is_read_but_not_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.create_run(record())
    # A newer cockpit adds a column and bumps the version (an additive migration).
    store.conn.execute("ALTER TABLE runs ADD COLUMN future TEXT")
    store.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    reader = StoreReader(tmp_path / "state.db", read_only=True)
    assert reader.run("h1-abc") is not None  # watch mode keeps working across the upgrade
    with pytest.raises(StoreError, match="may read it"):
        Store(tmp_path / "state.db")


def test_a_newer_incompatible_schema_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.conn.execute(
        f"INSERT OR REPLACE INTO meta VALUES ('min_reader_version', '{SCHEMA_VERSION + 1}')"
    )
    store.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="needs a reader of version"):
        StoreReader(tmp_path / "state.db", read_only=True)


def test_runs_events_metrics_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.create_run(record())
    store.update_run("h1-abc", state="running", handle={"pid": 1}, cost_so_far=0.25)
    store.add_event("h1-abc", "launch", "hello")
    store.add_metrics("h1-abc", [(1.0, 1.0, "loss", 0.5), (2.0, 2.0, "loss", 0.25)])
    run = store.reader.run("h1-abc")
    assert run is not None and run.state == "running" and run.handle == {"pid": 1}
    assert store.reader.metrics.series("h1-abc", "loss") == [0.5, 0.25]
    assert store.reader.metrics.stats("h1-abc", "loss") == (0.25, 0.25, 0.5)
    assert [e.message for e in store.reader.events("h1-abc")] == ["hello"]
    assert store.reader.find_run("h1") is not None
    with pytest.raises(ValueError):
        store.update_run("h1-abc", hypothesis="H2")


def test_a_request_is_claimed_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    client = StoreReader(tmp_path / "state.db")
    request_id = client.submit_request(StopRequest(run_id="x"), "test")
    other = Store(tmp_path / "state.db")
    assert store.claim_request(request_id) is True
    assert other.claim_request(request_id) is False
    assert store.reader.pending_requests() == []


def test_read_only_clients_cannot_write(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").create_run(record())
    reader = StoreReader(tmp_path / "state.db", read_only=True)
    assert reader.run("h1-abc") is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.conn.execute("UPDATE runs SET state = 'failed'")
    with pytest.raises(StoreError):
        reader.submit_request(StopRequest("x"), "watch")


def test_readers_see_new_commits_through_data_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    reader = StoreReader(tmp_path / "state.db", read_only=True)
    before = reader.data_version()
    store.create_run(record())
    assert reader.data_version() != before
    assert reader.run("h1-abc") is not None


def test_migration_3_keeps_every_old_sample_and_older_readers_refuse(tmp_path: Path) -> None:
    """A version-2 store (a row per sample) becomes blocks; the values read back the same."""
    import math
    import sqlite3

    from cockpit.store.migrations import MIGRATIONS

    db = tmp_path / "state.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=2")
    old = [(1.0, 1.0, "loss", 0.5), (2.0, 2.0, "loss", math.nan), (3.0, None, "loss", 0.25)]
    old += [(3.0, 3.0, "acc", 0.9)]
    conn.executemany(
        "INSERT INTO metrics (run_id, t, step, key, value) VALUES ('h1-abc', ?, ?, ?, ?)", old
    )
    conn.close()
    store = Store(db)
    assert metric_count(store.reader, "h1-abc") == 4
    assert store.reader.metrics.series("h1-abc", "loss") == [0.5, 0.25]
    assert store.reader.metrics.stats("h1-abc", "loss") == (0.25, 0.25, 0.5)
    assert sorted(store.reader.metrics.keys("h1-abc")) == ["acc", "loss"]
    store.add_metrics("h1-abc", [(4.0, 4.0, "loss", math.inf), (4.0, 4.0, "loss", math.nan)])
    assert store.reader.metrics.nan_streak("h1-abc", "loss", 5) == 2
    assert store.reader.metrics.series("h1-abc", "loss", limit=2) == [0.25, math.inf]
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key='min_reader_version'").fetchone() == (
        "3",
    )


def test_the_latest_success_of_a_plan_gives_the_expected_duration(tmp_path: Path) -> None:
    from tools.showcase import record as showcase_record

    store = Store(tmp_path / "state.db")
    assert store.reader.last_success_seconds("hypotheses.md") is None
    runs = [
        ("h1-a", "succeeded", 1000.0, 1100.0),
        ("h1-b", "succeeded", 2000.0, 2050.0),
        ("h1-c", "failed", 3000.0, 3010.0),
        ("h1-d", "succeeded", 4000.0, None),  # never ended: no duration
    ]
    for run_id, state, created, ended in runs:
        store.create_run(showcase_record(run_id, "H1", state, created))
        store.update_run(run_id, ended_at=ended)
    assert store.reader.last_success_seconds("hypotheses.md") == 2050.0 - 2001.0
    assert store.reader.last_success_seconds("other.md") is None


def test_run_changes_give_only_the_runs_written_since(tmp_path: Path) -> None:
    from tools.showcase import record as showcase_record

    store = Store(tmp_path / "state.db")
    for i in range(5):
        store.create_run(showcase_record(f"h1-{i}", "H1", "succeeded", 1000.0 + i))
    latest, first = store.reader.run_changes(0, limit=3)
    assert [run.id for run in first] == ["h1-4", "h1-3", "h1-2"]  # a first read: the newest
    assert store.reader.run_changes(latest) == (latest, [])
    store.update_run("h1-1", cost_so_far=0.5)
    store.create_run(showcase_record("h1-9", "H1", "running", 2000.0))
    newer, changed = store.reader.run_changes(latest)
    assert newer > latest and {run.id for run in changed} == {"h1-1", "h1-9"}
    assert store.reader.run_changes(newer) == (newer, [])


def test_migration_4_numbers_the_runs_already_there(tmp_path: Path) -> None:
    from cockpit.store.migrations import MIGRATIONS

    db = tmp_path / "state.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.create_function("cockpit_f64", 1, lambda x: b"")
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=3")
    for i in range(3):
        conn.execute(
            "INSERT INTO runs (id, hypothesis, plan, backend, commit_sha, spec, state, "
            "created_at) VALUES (?, 'H1', 'hypotheses.md', 'local', 'c', '{}', 'succeeded', ?)",
            (f"h1-{i}", 1000.0 + i),
        )
    conn.close()
    store = Store(db)
    latest, runs = store.reader.run_changes(0)
    assert latest == 3 and len(runs) == 3  # every old run got a change number
    store.update_run("h1-0", detail="touched")
    assert store.reader.run_changes(latest) == (4, [store.reader.run("h1-0")])


def _open_at_once(path: str, barrier: object, writer: bool, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        (Store(Path(path)) if writer else StoreReader(Path(path))).close()
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the test, which shows it
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """A project's first launch: the UI (or the CLI) and the supervisor it starts create the
    store together. SQLite refused one of them ("database is locked") in most such races."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = str(tmp_path / f"p{attempt}" / "state.db")
        barrier, results = context.Barrier(3), context.Queue()
        processes = [
            context.Process(target=_open_at_once, args=(path, barrier, writer, results))
            for writer in (True, False, False)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert sorted(results.get(timeout=30) for _ in processes) == ["ok", "ok", "ok"]


def test_a_corrupt_store_is_a_clear_error_and_is_never_overwritten(tmp_path: Path) -> None:
    """Issue 14, finding 10: say what happened, where the file is and how to move it aside."""
    import subprocess
    import sys

    from tests.conftest import write_project

    project = write_project(tmp_path / "proj")
    db = project / ".cockpit" / "state.db"
    db.parent.mkdir()
    garbage = b"not a database at all " * 100
    db.write_bytes(garbage)
    for read_only in (True, False):
        with pytest.raises(StoreError) as caught:
            StoreReader(db, read_only=read_only)
        assert "is not a readable cockpit store" in str(caught.value)
        assert f"mv {db} {db}.broken" in str(caught.value)
    for args in (["runs", "--json"], ["status", "--tmux"], ["runs"], ["supervise"]):
        result = subprocess.run(
            [sys.executable, "-m", "cockpit", *args, "--project", str(project)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "is not a readable cockpit store" in result.stderr
    assert db.read_bytes() == garbage


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")
def test_a_read_only_project_is_a_clear_error(tmp_path: Path) -> None:
    """Issue 14, finding 10: a project on a read-only mount (root ignores file modes, not a
    read-only filesystem) is one clear line for every command that must write, and `cockpit
    watch`-style reading still works."""
    import subprocess
    import sys

    from tests.conftest import write_project

    source = write_project(tmp_path / "proj")
    project = tmp_path / "ro"
    project.mkdir()
    mounted = subprocess.run(
        ["mount", "--bind", str(source), str(project)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.strip()}")
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(project)], check=True, capture_output=True
        )

        def cockpit(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "cockpit", *args, "--project", str(project)],
                capture_output=True, text=True, timeout=60, check=False,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip

        for args in (["launch", "H1", "--yes"], [], ["supervise"]):
            result = cockpit(*args)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, result.stderr
            assert "Read-only file system" in result.stderr, (args, result.stderr)
        assert "look without writing with `cockpit watch`" in cockpit().stderr
        listed = cockpit("runs", "--json")
        assert (listed.returncode, listed.stdout.strip()) == (0, "[]")
    finally:
        subprocess.run(["umount", "-l", str(project)], check=False)


def test_the_overview_covers_the_whole_run_in_means(tmp_path: Path) -> None:
    from cockpit.store import metric_queries

    store = Store(tmp_path / "state.db")
    store.create_run(record())
    for batch in range(10):  # 1000 samples in ten blocks: steps 0..999, value = step
        store.add_metrics(
            "h1-abc",
            [(1.0, float(s), "loss", float(s)) for s in range(batch * 100, batch * 100 + 100)],
        )
    store.add_metrics("h1-abc", [(2.0, 1000.0, "loss", math.nan)])  # no height: left out
    values, steps = store.reader.metrics.overview("h1-abc", "loss", points=10)
    assert values == [49.5 + 100 * i for i in range(10)]  # each a mean of its hundred
    assert steps == (0.0, 999.0)
    assert store.reader.metrics.overview("h1-abc", "acc") == ([], None)
    # Past the read limit, each block's last value stands for it (the blobs are not read).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metric_queries, "OVERVIEW_READ", 500)
        values, steps = store.reader.metrics.overview("h1-abc", "loss", points=100)
        assert values == [99.0 + 100 * i for i in range(10)] and steps == (0.0, 1000.0)
