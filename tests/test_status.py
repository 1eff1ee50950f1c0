"""`cockpit status --tmux` / `--json`: the same truth as the store, fast, without Textual."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from cockpit.cli.status import gather, tmux_line
from cockpit.core.paths import ProjectPaths
from cockpit.store.writer import Store
from tests.test_snapshots import NOW, _record


def seeded(project: Path, runs: int) -> None:
    store = Store(ProjectPaths(project).db)
    with store.transaction():
        for i in range(runs):
            store.create_run(_record(f"h1-{i:06x}", "H1", "succeeded", NOW - 10_000 + i))
        active = replace(_record("h2-active", "H2", "running", NOW - 5), cap=20.0)
        store.create_run(active)
        store.update_run("h2-active", cost_so_far=1.5, warnings=("stalled",), cap=20.0)
        store.add_metrics("h2-active", [(NOW, 120.0, "step", 120.0), (NOW, 120.0, "loss", 0.1834)])
        store.update_run("h1-000000", host="lab1", gpus=(0, 2))  # placed (issue 20)


def test_the_line_for_tmux_and_the_json(tmp_path: Path) -> None:
    seeded(tmp_path, 3)
    status = gather(tmp_path, now=NOW)
    assert status["run"]["id"] == "h2-active" and status["active"] == 1
    assert not status["supervisor"] and not status["enforced"]
    assert tmux_line(status) == (
        "h2-active ▶running step 120 loss 0.1834 $1.500/$20 ⚠stalled ⚠NOT SUPERVISED"
    )
    assert gather(tmp_path / "nothing")["run"] is None


def test_many_runs_say_how_many_run_and_wait(tmp_path: Path) -> None:
    """Issue 20: with several runs at once the line leads with '3 running · 2 queued'."""
    seeded(tmp_path, 1)
    store = Store(ProjectPaths(tmp_path).db)
    with store.transaction():
        for i, state in enumerate(["running", "starting", "queued", "queued"]):
            store.create_run(_record(f"h3-{i:06x}", "H3", state, NOW - 100 + i))
    status = gather(tmp_path, now=NOW)
    assert (status["active"], status["running"], status["queued"]) == (5, 3, 2)
    assert tmux_line(status).startswith("3 running · 2 queued h2-active ▶running step 120")
    with store.transaction():
        store.update_run("h3-000002", state="stopped")
        store.update_run("h3-000003", state="stopped")
    assert tmux_line(gather(tmp_path, now=NOW)).startswith("3 running h2-active ▶running")


def test_status_and_runs_json_import_neither_textual_nor_pydantic(tmp_path: Path) -> None:
    seeded(tmp_path, 1000)
    code = (
        "import sys\n"
        "from cockpit.entry import main\n"
        f"main(['status', '--json', '--project', {str(tmp_path)!r}])\n"
        f"main(['status', '--tmux', '--project', {str(tmp_path)!r}])\n"
        f"main(['runs', '--json', '--project', {str(tmp_path)!r}])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('textual', 'pydantic', 'rich')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["run"]["id"] == "h2-active"
    tmux = subprocess.run(
        [sys.executable, "-m", "cockpit", "status", "--tmux", "--project", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert tmux.stdout.startswith("h2-active ▶running step 120")


def test_the_fast_runs_listing_equals_the_records_json(tmp_path: Path) -> None:
    from cockpit.cli.listing import runs_json
    from cockpit.store.reader import StoreReader

    seeded(tmp_path, 20)
    db = ProjectPaths(tmp_path).db
    assert runs_json(db, None) == [run.to_json() for run in StoreReader(db).runs()]
    assert runs_json(db, 3) == [run.to_json() for run in StoreReader(db).runs(limit=3)]
    placed = next(run for run in runs_json(db, None) if run["id"] == "h1-000000")
    assert (placed["host"], placed["gpus"]) == ("lab1", [0, 2])
    assert runs_json(db, None)[0]["gpus"] is None  # not placed (its backend places nothing)


def test_the_fast_paths_read_simple_options_and_leave_the_rest_to_argparse() -> None:
    from cockpit.entry import fast_options

    assert fast_options("runs", ["--json", "--project", "p", "--limit=3"]) == {
        "--json": True,
        "--project": "p",
        "--limit": 3,
    }
    assert fast_options("status", ["--tmux", "--project=x"]) == {"--tmux": True, "--project": "x"}
    for odd in (
        ["--help"],
        ["--limit", "three"],
        ["--project"],
        ["--project", "a", "--project", "b"],
        ["--json=1"],
        ["--config", "c.toml"],
        ["extra"],
    ):
        assert fast_options("runs", odd) is None, odd
    assert fast_options("status", ["--tmux", "--json"]) is None
    assert fast_options("status", ["--limit", "3"]) is None


def test_cockpit_runs_help_still_comes_from_argparse(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cockpit", "runs", "--limit", "x", "--project", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and "invalid int value" in result.stderr
