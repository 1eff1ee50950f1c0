"""The plain CLI, as scripts and agents call it: real processes, real supervisor."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from backends.local import LocalBackend
from cockpit.core.paths import ProjectPaths
from cockpit.store.reader import StoreReader

RUN_FIELDS = {
    "id",
    "hypothesis",
    "plan",
    "backend",
    "state",
    "commit",
    "started_at",
    "ended_at",
    "exit_code",
    "cost_so_far",
    "failure_class",
    "failure_line",
    "attempt",
    "parent",
    "warnings",
    "guard",
}


def cockpit(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_launch_wait_runs_json_and_logs(project: Path) -> None:
    ok = cockpit(project, "launch", "H1", "--yes", "--wait")
    assert ok.returncode == 0, ok.stderr
    run_id = ok.stdout.strip()
    assert "succeeded" in ok.stderr
    failed = cockpit(project, "launch", "H2", "--yes", "--wait")
    assert failed.returncode == 1
    assert "not relaunched: a crash is not relaunched automatically (recover.on" in failed.stderr
    runs = json.loads(cockpit(project, "runs", "--json").stdout)
    assert [run["hypothesis"] for run in runs] == ["H2", "H1"]
    assert all(set(run) >= RUN_FIELDS for run in runs)
    assert runs[1]["id"] == run_id and runs[1]["state"] == "succeeded"
    assert runs[1]["exit_code"] == 0 and runs[0]["state"] == "failed"
    assert runs[0]["failure_class"] == "crash"
    assert runs[0]["failure_line"] == "RuntimeError: boom: the model exploded"
    assert runs[0]["guard"].startswith("a crash is not relaunched automatically")
    warnings = [w for w in runs[0]["warnings"] if w != "gpu-unavailable"]  # hosts without GPU
    assert (runs[0]["attempt"], runs[0]["parent"], warnings) == (1, None, [])
    assert runs[1]["guard"] is None
    logs = cockpit(project, "logs", run_id)
    assert logs.stdout == (ProjectPaths(project).mirror_log(run_id, "train")).read_text()
    onstart = cockpit(project, "logs", run_id[:6], "--source", "onstart", "-f")
    assert "setting up" in onstart.stdout
    table = cockpit(project, "runs")
    assert run_id in table.stdout and "succeeded" in table.stdout


def test_stop_needs_yes_without_a_terminal_and_then_stops(project: Path) -> None:
    started = cockpit(project, "launch", "H5", "--yes")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    refused = cockpit(project, "stop", run_id)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    stopped = cockpit(project, "stop", run_id, "--yes")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith(f"{run_id}: stopped (cost $")
    runs = json.loads(cockpit(project, "runs", "--json").stdout)
    assert runs[0]["state"] == "stopped"
    again = cockpit(project, "stop", run_id, "--yes")
    assert again.returncode == 1 and "already stopped" in again.stderr


def test_ps_lists_live_runs_and_marks_orphans(project: Path) -> None:
    run_id = cockpit(project, "launch", "H5", "--yes").stdout.strip()
    rows = json.loads(cockpit(project, "ps", "--json").stdout)
    assert [(row["run_id"], row["known"]) for row in rows] == [(run_id, True)]
    # Forget the run in the store (as if the store were lost): it becomes an orphan.
    reader = StoreReader(ProjectPaths(project).db)
    reader.conn.execute("DELETE FROM runs")
    rows = json.loads(cockpit(project, "ps", "--json").stdout)
    assert [(row["run_id"], row["known"]) for row in rows] == [(run_id, False)]
    assert "ORPHAN" in cockpit(project, "ps").stdout
    backend = LocalBackend("local", ProjectPaths(project).runs)
    handle = backend._handle_from_disk(run_id)
    assert handle is not None
    asyncio.run(backend.stop(handle, 2))
    assert json.loads(cockpit(project, "ps", "--json").stdout) == []


def test_cli_paths_do_not_import_textual(project: Path) -> None:
    code = (
        "import sys\n"
        "from cockpit.cli.main import main\n"
        "for args in (['runs', '--json'], ['runs'], ['ps', '--json']):\n"
        f"    main(args + ['--project', {str(project)!r}])\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if 'textual' in m)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_raise_cap_from_the_cli(project: Path) -> None:
    with (project / "cockpit.toml").open("a") as handle:
        handle.write("[cost]\nrun_cap = 2.0\n")
    raised = cockpit(project, "raise-cap", "H5", "7.5")
    assert raised.returncode == 0, raised.stderr
    assert "H5 (hypotheses.md) raised from $2.00 to $7.50" in raised.stdout
    lower = cockpit(project, "raise-cap", "H5", "3")
    assert lower.returncode == 1 and "does not raise" in lower.stderr
    plan = cockpit(project, "raise-cap", "--plan", "hypotheses.md", "50")
    assert plan.returncode == 0 and "from none to $50.00" in plan.stdout


def test_logs_prints_a_mirror_larger_than_one_read(project: Path) -> None:
    """`cockpit logs` streams the mirror in reads of 1 MiB: a 3 MiB log comes out whole."""
    from cockpit.core.paths import ProjectPaths
    from cockpit.store.writer import Store
    from tools.showcase import NOW, record

    store = Store(ProjectPaths(project).db)
    store.create_run(record("h1-big", "H1", "succeeded", NOW))
    mirror = ProjectPaths(project).mirror_log("h1-big", "train")
    mirror.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(b"line %06d %s\n" % (i, b"y" * 60) for i in range(45_000))
    mirror.write_bytes(body)
    assert len(body) > 3 * 1024 * 1024
    result = subprocess.run(
        [sys.executable, "-m", "cockpit", "logs", "h1-big", "--project", str(project)],
        capture_output=True, check=True,
    )  # fmt: skip
    assert result.stdout == body


def test_launch_wait_outlives_a_killed_supervisor(project: Path) -> None:
    """`launch --wait` never hangs on a dead supervisor: it starts one, as every client does,
    and follows the run to its end (issue 14, finding 4b)."""
    import os
    import signal

    from cockpit.store.supervisor_lock import SupervisorLock
    from tests.conftest import wait_for

    paths = ProjectPaths(project)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "cockpit", "launch", "H4", "--yes", "--wait", "--project",
         str(project)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(paths.db.exists, what="the store")
        reader = StoreReader(paths.db)  # read-write: it waits for the CLI's migration
        run = wait_for(lambda: next((r for r in reader.runs() if r.state == "running"), None),
                       what="H4 running")  # fmt: skip
        first = int(SupervisorLock(paths.lock).holder()["pid"])
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: (
                SupervisorLock(paths.lock).is_held_elsewhere()
                and int(SupervisorLock(paths.lock).holder().get("pid", first)) != first
            ),
            what="a new supervisor, started by the waiting CLI",
        )
        run_dir = paths.runs / run.id / "run"  # type: ignore[attr-defined]
        (run_dir / "release").touch()
        (run_dir / "release2").touch()
        _, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "the supervisor is gone; starting one" in err


def test_two_concurrent_stops_both_report_the_outcome(project: Path) -> None:
    """A second `cockpit stop` of a run being stopped joins the first and reports its outcome
    instead of failing (issue 14, finding 10)."""
    launched = cockpit(project, "launch", "H5", "--yes")
    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.strip()
    reader = StoreReader(ProjectPaths(project).db, read_only=True)
    from tests.conftest import wait_for

    wait_for(lambda: reader.run(run_id).state == "running", what="H5 running")  # type: ignore[union-attr]
    command = [sys.executable, "-m", "cockpit", "stop", run_id, "--yes", "--project", str(project)]
    stops = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [stop.communicate(timeout=120) for stop in stops]
    assert [stop.returncode for stop in stops] == [0, 0], results
    assert all(f"{run_id}: stopped" in out for out, _ in results)


def test_a_prefix_of_several_runs_lists_them_or_takes_the_only_active_one(project: Path) -> None:
    from cockpit.store.writer import Store
    from tools.showcase import NOW, record

    store = Store(ProjectPaths(project).db)
    store.create_run(record("h1-aaaaaa", "H1", "failed", NOW - 100))
    store.create_run(record("h1-bbbbbb", "H1", "stopped", NOW - 50))
    store.close()
    listed = cockpit(project, "logs", "h1")
    assert listed.returncode == 1
    assert "'h1' matches 2 runs: h1-bbbbbb (stopped), h1-aaaaaa (failed)" in listed.stderr
    assert "give more of the id" in listed.stderr
    stopped = cockpit(project, "stop", "h1")
    assert stopped.returncode == 1 and "matches 2 runs" in stopped.stderr
    store = Store(ProjectPaths(project).db)
    store.create_run(record("h1-cccccc", "H1", "running", NOW))
    store.close()
    taken = cockpit(project, "stop", "h1")  # no terminal to confirm on: it says which run first
    assert "'h1' matches 3 runs; taking h1-cccccc, the only active one" in taken.stderr
    assert "pass --yes to stop" in taken.stderr
    assert cockpit(project, "logs", "h9").stderr.startswith("cockpit: no run 'h9'")


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`cockpit config schema | head -c 10`: the reader is gone; cockpit ends quietly (141, as a
    shell reports SIGPIPE) instead of printing a BrokenPipeError traceback. The pipe's reading
    end is closed before cockpit writes, so its first write fails, every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cockpit", "config", "schema", "--project", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_launching_several_hypotheses_queues_those_without_a_place(tmp_path: Path) -> None:
    """`cockpit launch H5 H4 H7` (issue 20): sent in this order; this machine has no GPU, so
    the local backend has one slot: the first runs, the others wait in launch order; stopping
    the running one starts the next; a queued run stopped leaves the queue."""
    from tests.conftest import wait_for, write_project

    project = write_project(tmp_path / "proj", top="max_parallel = 3\n")
    launched = cockpit(project, "launch", "H5", "H4", "H7", "--yes")
    assert launched.returncode == 0, launched.stderr
    first, second, third = launched.stdout.split()
    reader = StoreReader(ProjectPaths(project).db, read_only=True)

    def state(run_id: str) -> tuple[str, str]:
        run = reader.run(run_id)
        assert run is not None
        return run.state, run.detail

    wait_for(lambda: state(first)[0] == "running", what="H5 running")
    wait_for(lambda: state(third)[1].startswith("queued #2:"), what="H7 second in the queue")
    assert state(second) == ("queued", "queued #1: waiting for a free slot (local: 1 of 1 taken)")
    listing = {run["id"]: run for run in json.loads(cockpit(project, "runs", "--json").stdout)}
    assert (listing[first]["host"], listing[first]["gpus"]) == ("local", [])
    assert listing[second]["state"] == "queued" and listing[second]["host"] is None
    status = cockpit(project, "status", "--tmux").stdout
    assert status.startswith("1 running · 2 queued "), status
    assert cockpit(project, "stop", first, "--yes").returncode == 0
    wait_for(lambda: state(second)[0] == "running", what="H4 started in the freed slot")
    wait_for(lambda: state(third)[1].startswith("queued #1:"), what="H7 first in the queue")
    removed = cockpit(project, "stop", third, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert state(third) == (
        "stopped",
        "left the queue unstarted: removed from the queue on request",
    )
    assert cockpit(project, "stop", second, "--yes").returncode == 0
