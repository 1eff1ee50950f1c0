"""Pilot tests for what supervision shows: the deciding line, the jump to it, the cap modal."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from textual.notifications import Notify
from textual.widgets import Input

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.store.writer import Store
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.control import RequestSent
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.raise_cap import RaiseCapScreen
from tests.conftest import write_project
from tests.test_snapshots import NOW, _record
from tests.uihelp import MessageLog
from tools.showcase import settled
from widgets.browse_log import BrowseLog
from widgets.hypothesis_list import HypothesisList
from widgets.log_pane import LogPane


def seeded(tmp_path: Path) -> Path:
    project = write_project(tmp_path / "proj")
    store = Store(ProjectPaths(project).db)
    crash = replace(
        _record("h2-2c2c2c", "H2", "failed", NOW - 100, ended_at=NOW - 50, exit_code=1),
        failure_class="crash", failure_source="train", failure_line_no=30,
        failure_line="RuntimeError: boom", guard="a crash is not relaunched automatically",
        detail="crash: exit code 1: RuntimeError: boom",
    )  # fmt: skip
    capped = replace(
        _record("h3-3d3d3d", "H3", "cap-exceeded", NOW - 90, ended_at=NOW - 40),
        cap=1.0, cost_so_far=1.02, guard="cost cap: the run cap $1.00 was reached",
    )  # fmt: skip
    for run in (crash, capped):
        store.create_run(run)
        store.update_run(
            run.id, failure_class=run.failure_class, failure_source=run.failure_source,
            failure_line_no=run.failure_line_no, failure_line=run.failure_line, guard=run.guard,
            cost_so_far=run.cost_so_far, cap=run.cap,
        )  # fmt: skip
    mirror = ProjectPaths(project).mirror("h2-2c2c2c")
    mirror.mkdir(parents=True)
    lines = [json.dumps({"step": s}) for s in range(29)] + ["RuntimeError: boom"]
    lines += [f"after {i}" for i in range(5000)]
    (mirror / "train.log").write_text("\n".join(lines) + "\n")
    return project


def app_for(project: Path) -> CockpitApp:
    return CockpitApp(project, load_config(project), clock=lambda: NOW, autostart_supervisor=False)


@pytest.mark.parametrize("offset_stored", [True, False])
async def test_the_failure_line_is_shown_and_j_jumps_to_it(
    tmp_path: Path, offset_stored: bool
) -> None:
    """With the line's byte offset stored (what the pump records now) the jump seeks there;
    a run from before that reads up to the line: both show the same window."""
    project = seeded(tmp_path)
    mirror = ProjectPaths(project).mirror_log("h2-2c2c2c", "train")
    if offset_stored:
        offset = mirror.read_bytes().index(b"RuntimeError: boom")
        Store(ProjectPaths(project).db).add_anomaly(
            "h2-2c2c2c", "train", 30, "crash", "RuntimeError: boom", offset
        )
    app = app_for(project)
    messages = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        screen.query_one(HypothesisList).select_key("hypotheses.md:H2")
        await messages.until(lambda: screen.shown is not None and screen.shown.id == "h2-2c2c2c")
        await messages.until(lambda: screen.snapshot.shown == "h2-2c2c2c")
        assert screen.snapshot.failure_offset == (offset if offset_stored else None)
        header = str(screen.query_one("#run-header").render())
        assert "✗ crash at train:30 (j jumps there): RuntimeError: boom" in header
        assert "not relaunched: a crash is not relaunched automatically" in header
        pane = screen.query_one(LogPane)
        log = pane.log_for("train")
        await messages.until(lambda: log.line_count > 0 and str(log.lines[-1]) == "after 4999")
        assert not any("RuntimeError" in str(line) for line in log.lines)
        await pilot.press("j")
        view = pane.query_one(BrowseLog)
        await messages.until(
            lambda: pane.browsing and view.first <= 29 < view.first + len(view.held)
        )
        assert view.held[29 - view.first] == "RuntimeError: boom" and view.marked == 29
        assert view.top == 26 and not pane.following
        status = str(pane.query_one("#log-status").render())
        assert "train: line 27 of" in status and "▶ marked: the failure line (30)" in status
        assert view.render_line(3).text.startswith("RuntimeError: boom")
        await pilot.press("f")
        await messages.until(lambda: not pane.browsing and pane.following)
        assert str(log.lines[-1]) == "after 4999"


async def test_relaunching_a_capped_run_asks_to_raise_the_cap(tmp_path: Path) -> None:
    project = seeded(tmp_path)
    messages = MessageLog()
    app = app_for(project)
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        app.screen.query_one(HypothesisList).select_key("hypotheses.md:H3")
        await pilot.pause()
        await pilot.press("r")
        await messages.until(lambda: isinstance(app.screen, RaiseCapScreen))
        app.screen.query_one(Input).value = "0.5"
        await pilot.press("enter")
        assert isinstance(app.screen, RaiseCapScreen)  # not above the cap: refused here
        assert "must be above $1.00" in str(app.screen.query_one("#raise-error").render())
        app.screen.query_one(Input).value = "5"
        await pilot.press("enter")
        await messages.until(lambda: len(messages.of(RequestSent)) == 2)
    kinds = [m.kind for m in messages.of(RequestSent)]
    assert kinds == ["raise_cap", "relaunch"]
    store = Store(ProjectPaths(project).db)
    pending = store.reader.pending_requests()
    assert [(r.kind, r.payload.get("cap")) for r in pending] == [
        ("raise_cap", 5.0),
        ("relaunch", None),
    ]


async def test_a_config_alert_and_the_enforced_policy_come_from_the_store(tmp_path: Path) -> None:
    """The UI shows what the supervisor enforces, not what the file on disk says: a broken
    cockpit.toml is on the status line, and the attempts shown are the enforced ones."""
    project = seeded(tmp_path)
    store = Store(ProjectPaths(project).db)
    store.set_meta("enforced", {"recover": {"max_attempts": 5}})
    store.set_alert("config", f"{project}/cockpit.toml: key 'cost.run_cap': not a number\nmore")
    relaunched = replace(_record("h4-4e4e4e", "H4", "running", NOW - 10), attempt=2)
    store.create_run(relaunched)
    app = app_for(project)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook):
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await settled(app)
        line = str(screen.query_one("#status-line").render())
        assert "⚠ " in line and "key 'cost.run_cap': not a number" in line
        assert "the last good config is enforced" in line
        assert screen.max_attempts == 5  # the file says 2
        store.clear_alert("config")
        await log.until(
            lambda: "cost.run_cap" not in str(screen.query_one("#status-line").render())
        )


async def test_a_failure_is_one_toast_saying_why_it_was_not_relaunched(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj")
    store = Store(ProjectPaths(project).db)
    store.create_run(_record("h4-4e4e4e", "H4", "running", NOW - 10))
    app = app_for(project)
    messages = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=messages.hook):
        await settled(app)
        guard = "a crash is not relaunched automatically (recover.on in cockpit.toml lists …)"
        store.update_run(
            "h4-4e4e4e", state="failed", detail="crash: exit code 1: RuntimeError: boom",
            guard=guard,
        )  # fmt: skip
        toast = await messages.wait(Notify, lambda m: "h4-4e4e4e" in m.notification.message)
        assert toast.notification.message == (
            "h4-4e4e4e (H4) failed: crash: exit code 1: RuntimeError: boom\n"
            f"not relaunched: {guard}"
        )
        assert toast.notification.severity == "error"
