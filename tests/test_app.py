"""Pilot tests: the bindings drive real requests through a real supervisor process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.notifications import Notify
from textual.widgets import OptionList, Sparkline

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.store.migrations import SCHEMA_VERSION
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock
from cockpit.store.writer import Store
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.confirm import ConfirmScreen
from cockpit.ui.screens.control import Controls, RequestFinished, RequestSent
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.plan_watch import PlansReloaded
from tests.uihelp import MessageLog
from tools.showcase import settled
from widgets.browse_log import BrowseLog
from widgets.hypothesis_list import HypothesisList
from widgets.log_pane import LogPane

MUTATING = {"launch", "stop", "relaunch", "loop", "mark"}


def app_for(project: Path, read_only: bool = False) -> CockpitApp:
    return CockpitApp(project, load_config(project), read_only=read_only)


def screen_of(app: CockpitApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def stop_leftovers(project: Path) -> None:
    from backends.base import RunHandle
    from backends.local import LocalBackend

    store = Store(ProjectPaths(project).db)
    backend = LocalBackend("local", ProjectPaths(project).runs)
    for run in store.reader.active_runs():
        if run.handle:
            await backend.stop(RunHandle.from_json(run.handle), 1)


async def test_launch_with_l_then_watch_it_succeed(project: Path) -> None:
    log = MessageLog()
    app = app_for(project)
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        await pilot.press("l")
        sent = await log.wait(RequestSent)
        assert sent.kind == "launch"
        finished = await log.wait(RequestFinished)
        assert finished.request.status == "done", finished.request.result
        screen = screen_of(app)
        await log.until(lambda: screen.shown is not None and screen.shown.state == "succeeded")
        await log.until(lambda: screen.query_one(LogPane).log_for("train").line_count >= 21)
        train = screen.query_one(LogPane).log_for("train")
        assert any('"step": 19' in str(line) for line in train.lines)
        loss = screen.query_one("#metric-loss Sparkline", Sparkline)
        assert len(list(loss.data or [])) == 20
        assert "H1" in str(screen.query_one("#run-header").render())
        options = screen.query_one(OptionList)
        # Done, then the verdict once it is written back (0.5 meets val_loss <= 0.6).
        await log.until(lambda: "adopted" in str(options.get_option("hypotheses.md:H1").prompt))
        assert str(options.get_option("hypotheses.md:H1").prompt).startswith("✓ H1")


async def test_stop_asks_with_the_cost_then_stops(project: Path) -> None:
    log = MessageLog()
    app = app_for(project)
    try:
        async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
            screen = screen_of(app)
            screen.query_one("#plan-list").select_key("hypotheses.md:H5")  # type: ignore[attr-defined]
            await pilot.press("l")
            await log.wait(RequestFinished)
            await log.until(lambda: screen.shown is not None and screen.shown.state == "running")
            await pilot.press("s")
            await log.until(lambda: isinstance(app.screen, ConfirmScreen))
            body = str(app.screen.query_one("#confirm-body").render())
            assert "Cost so far: $" in body and "/h" in body
            await pilot.press("n")  # cancel: nothing is sent
            assert isinstance(app.screen, MainScreen) and app.screen.controls is not None
            assert len(log.of(RequestSent)) == 1
            await pilot.press("s")
            await log.until(lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            stop = await log.wait(RequestSent, lambda m: m.kind == "stop")
            done = await log.wait(RequestFinished, lambda m: m.request.id == stop.request_id)
            assert done.request.status == "done"
            await log.until(lambda: screen.shown is not None and screen.shown.state == "stopped")
            # One stop, one toast: "requested", replaced by the run's "stopped" (said once).
            run_id = screen.shown.id

            def said() -> list[str]:
                return [n.message for n in app.notices.history if run_id in n.message]

            await log.until(lambda: any(" stopped: " in m for m in said()))
            await pilot.pause()
            requested = said().index(f"stop {run_id}: requested")
            after = said()[requested:]
            assert len(after) == 2 and after[1].startswith(f"{run_id} (H5) stopped: ")
            on_screen = [n.message for n in app._notifications if run_id in n.message]
            assert [m for m in on_screen if "stop" in m] == [after[1]]  # (and the launch's)
    finally:
        await stop_leftovers(project)


async def test_source_keys_and_follow(project: Path) -> None:
    app = CockpitApp(project, load_config(project), autostart_supervisor=False)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = screen_of(app).query_one(LogPane)
        for key, source in (("2", "onstart"), ("3", "gpu"), ("1", "train")):
            await pilot.press(key)
            assert pane.source == source
        await pilot.press("f")
        assert pane.following


async def test_plan_edits_reload_and_errors_keep_the_last_good_plan(project: Path) -> None:
    log = MessageLog()
    app = CockpitApp(project, load_config(project), autostart_supervisor=False)
    plan_file = project / "hypotheses.md"
    async with app.run_test(size=(160, 48), message_hook=log.hook):
        await screen_of(app).plan_watch.armed.wait()
        options = screen_of(app).query_one(OptionList)
        reloads = len(log.of(PlansReloaded))
        text = plan_file.read_text(encoding="utf-8")
        edited = text.replace("- [ ] H8: diverges", "- [ ] H8: diverges\n- [ ] H9: new idea")
        plan_file.write_text(edited, encoding="utf-8")
        await log.until(lambda: len(log.of(PlansReloaded)) > reloads, timeout=5)
        assert options.get_option("hypotheses.md:H9") is not None
        reloads = len(log.of(PlansReloaded))
        plan_file.write_text(edited.replace("- [ ] H9", "- [?] H9"), encoding="utf-8")
        await log.until(lambda: len(log.of(PlansReloaded)) > reloads, timeout=5)
        banner = screen_of(app).query_one("#plan-errors")
        assert banner.has_class("-visible")
        assert "hypotheses.md:14: checkbox [?]" in str(banner.render())
        assert options.get_option("hypotheses.md:H9") is not None  # the last good plan stays


async def test_watch_mode_has_no_action_and_a_read_only_store(project: Path) -> None:
    Store(ProjectPaths(project).db).close()  # a store exists, as after any run
    app = app_for(project, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        screen = screen_of(app)
        assert type(screen) is MainScreen
        ids = {binding.binding.id for binding in screen.active_bindings.values()}
        assert not ids & MUTATING
        for name in MUTATING:
            assert not hasattr(screen, f"action_{name}") and not hasattr(app, f"action_{name}")
        titles = {command.title.lower() for command in app.get_system_commands(screen)}
        assert not any(word in title for title in titles for word in MUTATING)
        await settled(app)
        assert screen.feed.read_only and screen.store_error is None
        assert "READ-ONLY" in str(screen.query_one("#status-line").render())
        await pilot.press("l")
        await log.wait(Notify, lambda m: "read-only" in m.notification.message)
        await pilot.press("s", "r")
        await pilot.pause()
        assert not SupervisorLock(ProjectPaths(project).lock).is_held_elsewhere()
        # Said once, so the keys do not look broken; nothing is done.
        said = [m.notification.message for m in log.of(Notify)]
        assert [text for text in said if "read-only" in text] == [
            "watch mode is read-only: launch, stop, relaunch and loop are in `cockpit`"
        ]


def test_bindings_have_ids_tooltips_and_avoid_terminal_keys() -> None:
    for owner in (CockpitApp, MainScreen, Controls, ConfirmScreen):
        for binding in owner.BINDINGS:
            assert binding.id, f"{owner.__name__} {binding.key} has no id"  # type: ignore[union-attr]
            assert binding.tooltip, f"{owner.__name__} {binding.key} has no tooltip"  # type: ignore[union-attr]
            for key in binding.key.split(","):  # type: ignore[union-attr]
                assert key not in ("ctrl+j", "ctrl+s", "ctrl+o")


async def test_keys_can_be_remapped_from_the_config(project: Path) -> None:
    with (project / "cockpit.toml").open("a") as handle:
        handle.write('[keys]\nlaunch = "L"\n')
    log = MessageLog()
    app = CockpitApp(project, load_config(project))
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        await pilot.press("l")
        assert log.of(RequestSent) == []
        await pilot.press("L")
        assert (await log.wait(RequestSent)).kind == "launch"
        await log.wait(RequestFinished)
    await stop_leftovers(project)


@pytest.mark.parametrize("read_only", [False, True])
async def test_both_modes_show_the_same_state(project: Path, read_only: bool) -> None:
    log = MessageLog()
    app = CockpitApp(project, load_config(project), read_only=read_only, autostart_supervisor=False)
    store = Store(ProjectPaths(project).db)
    async with app.run_test(size=(160, 48), message_hook=log.hook):
        from tests.test_snapshots import seed_runs

        seed_runs(project, store)
        screen = screen_of(app)
        # The interactive window stays on the hypothesis under its cursor; watch mode moves
        # the cursor to the run that started (and its panes follow the cursor).
        expected = "h1-0a0a0a" if not read_only else "h5-5b5b5b"
        await log.until(lambda: screen.shown is not None and screen.shown.id == expected)
        if read_only:
            assert screen.query_one(HypothesisList).selected_key == "hypotheses.md:H5"


def test_binding_ids_match_the_config_list() -> None:
    from cockpit.core.binding_ids import BINDING_IDS

    defined = {
        binding.id: binding.key  # type: ignore[union-attr]
        for owner in (CockpitApp, MainScreen, Controls)
        for binding in owner.BINDINGS
    }
    assert defined == BINDING_IDS


async def test_filter_follow_and_help(tmp_path: Path) -> None:
    from tests.test_snapshots import make_app

    app = make_app(tmp_path, read_only=True)
    messages = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        pane = screen_of(app).query_one(LogPane)
        log = pane.log_for("train")
        await pilot.pause()
        assert log.line_count == 40 and pane.following
        # Scrolling back stops following: new lines do not move the view.
        log.scroll_home(animate=False, immediate=True)
        pane.append("train", ['{"step": 40, "loss": 0.1}'])
        assert log.scroll_y == 0 and not pane.following
        await pilot.press("f")
        await pilot.pause()
        assert pane.following and log.scroll_y == log.max_scroll_y
        # `&` shows only the matching lines of the whole mirror, each with its number.
        await pilot.press("ampersand")
        await pilot.press(*'"step": 3', "enter")
        view = pane.query_one(BrowseLog)
        await messages.until(lambda: pane.browsing and view.total == 11 and len(view.held) == 11)
        assert all('"step": 3' in line for line in view.held)  # steps 3 and 30-39
        assert view.held[0].split("│")[0].strip() == "4"  # the file's line 4
        assert "11 matching lines" in str(pane.query_one("#log-status").render())
        await pilot.press("f")  # every line again, following
        await messages.until(lambda: not pane.browsing and pane.following)
        assert not pane.filter_text
        await pilot.press("question_mark")
        from cockpit.ui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        listed = [row[1] for row in app.screen._rows]
        assert "follow" in listed and "launch" not in listed
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_palette_offers_the_actions_in_interactive_mode(project: Path) -> None:
    app = CockpitApp(project, load_config(project), autostart_supervisor=False)
    async with app.run_test(size=(160, 48)):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Launch", "Stop + terminate", "Relaunch", "Show the train log"} <= titles


async def test_a_burst_larger_than_the_pane_jumps_to_its_end_and_says_so(tmp_path: Path) -> None:
    from tests.test_snapshots import make_app

    messages = MessageLog()
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        screen = screen_of(app)
        log = screen.query_one(LogPane).log_for("train")
        await settled(app)
        assert screen.shown is not None
        mirror = screen.paths.mirror_log(screen.shown.id, "train")
        with open(mirror, "ab") as handle:
            for i in range(100_000):
                handle.write(b'{"step": %d, "loss": 0.5} %s\n' % (i, b"x" * 60))
        screen.log_feed.poke()
        await messages.until(lambda: str(log.lines[-1]).startswith('{"step": 99999,'))
        lines = [str(line) for line in log.lines]
        note = next(line for line in lines if line.startswith("···"))
        assert "MB not shown" in note and "Home" in note
        # A filter reads the whole file: a match early in a burst is there, with the last.
        with open(mirror, "ab") as handle:
            handle.write(b"needle early in the burst\n")
            handle.write(b"".join(b"hay %d %s\n" % (i, b"x" * 80) for i in range(100_000)))
            handle.write(b"needle at its end\n")
        await pilot.press("ampersand")
        await pilot.press(*"needle", "enter")
        pane = screen.query_one(LogPane)
        view = pane.query_one(BrowseLog)
        await messages.until(lambda: view.total == 2 and len(view.held) == 2)
        assert [line.split("│ ", 1)[1] for line in view.held] == [
            "needle early in the burst",
            "needle at its end",
        ]


async def test_a_quiet_log_slows_its_reads_and_a_store_commit_wakes_them(
    tmp_path: Path,
) -> None:
    """Ten log reads a second only while lines flow; the supervisor's commit (it records the
    parsed offset with every batch) brings the new lines without waiting for the slow tick."""
    from cockpit.ui.log_feed import QUIET_READS
    from tests.test_snapshots import make_app

    messages = MessageLog()
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(160, 48), message_hook=messages.hook):
        screen = screen_of(app)
        await settled(app)
        await messages.until(lambda: screen.log_feed.quiet_reads >= QUIET_READS)
        assert screen.shown is not None
        mirror = screen.paths.mirror_log(screen.shown.id, "train")
        with open(mirror, "a") as handle:
            handle.write("a line after a quiet spell\n")
        Store(screen.paths.db).add_event(screen.shown.id, "test", "a commit")
        log = screen.query_one(LogPane).log_for("train")
        await messages.until(lambda: str(log.lines[-1]) == "a line after a quiet spell")
        # It came as new lines of the followed log (the read the commit woke; the counter of
        # empty reads started over then, though it may have counted up again since).
        from cockpit.ui.log_feed import LogLines

        assert any(
            "a line after a quiet spell" in m.lines.get("train", []) for m in messages.of(LogLines)
        )


async def test_runs_are_re_read_when_the_change_numbers_start_over(tmp_path: Path) -> None:
    """The screens read only runs changed since the last read; a store whose numbering went
    back (a new store in the old one's place) is read afresh instead of being missed."""
    import sqlite3

    from tests.test_snapshots import make_app
    from tools.showcase import NOW, record

    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook):
        screen = screen_of(app)
        await settled(app)
        before = {run.id for run in screen.runs}
        assert len(before) >= 2
        conn = sqlite3.connect(screen.paths.db, isolation_level=None)
        conn.execute("DELETE FROM runs")
        conn.close()
        Store(screen.paths.db).create_run(record("h9-fresh", "H1", "succeeded", NOW + 10))
        await log.until(lambda: [run.id for run in screen.runs] == ["h9-fresh"])


async def test_watch_on_a_store_not_yet_upgraded_waits_for_the_supervisor(
    project: Path,
) -> None:
    """Watch opens the store read-only and cannot migrate it: an older schema is a clear
    message (never a crash), and the screen reads the store once a writer has upgraded it."""
    import sqlite3

    from cockpit.store.migrations import MIGRATIONS

    db = ProjectPaths(project).db
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=2")
    conn.close()
    messages = MessageLog()
    app = CockpitApp(project, load_config(project), read_only=True, autostart_supervisor=False)
    async with app.run_test(size=(160, 48), message_hook=messages.hook):
        screen = screen_of(app)
        await messages.until(lambda: screen.store_error is not None)
        header = str(screen.query_one("#run-header").render())
        assert "schema version 2" in header and "supervise" in header
        Store(db).close()  # what a starting supervisor does first: migrate
        await messages.until(lambda: screen.store_error is None)
        assert StoreReader(db, read_only=True).schema_version == SCHEMA_VERSION


def test_watch_mode_never_loads_the_action_screen(project: Path) -> None:
    """No action exists in watch mode: the module that holds them is not even imported (and
    its import is not paid at start-up)."""
    code = (
        "import asyncio, pathlib, sys\n"
        "from cockpit.ui.app import CockpitApp\n"
        "from cockpit.core.config import load_config\n"
        "project = pathlib.Path(sys.argv[1])\n"
        "async def main():\n"
        "    app = CockpitApp(project, load_config(project), read_only=True)\n"
        "    async with app.run_test(size=(160, 48)) as pilot:\n"
        "        await pilot.pause()\n"
        "        print(type(app.screen).__name__, 'cockpit.ui.screens.control' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(project)], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["MainScreen", "False"]


def test_the_header_says_why_there_is_no_run() -> None:
    from cockpit.ui.viewmodel import why_no_run

    assert why_no_run(True, "hypotheses.md:H3") == "H3 has no run yet"
    assert why_no_run(True, None) == "no run yet"
    assert why_no_run(False, None) == "no run yet — select a hypothesis"
    assert why_no_run(False, "hypotheses.md:H3") == "H3 has no run yet — l launches it"


def test_the_panes_show_the_run_of_the_hypothesis_under_the_cursor_or_none(
    tmp_path: Path,
) -> None:
    """Actions apply to what the panes show: a hypothesis without a run shows none (so `s`
    cannot offer to stop another hypothesis's run), and the header says why a run is shown."""
    from dataclasses import replace

    from cockpit.core.planbook import PlanBook
    from cockpit.ui.viewmodel import choose_shown
    from tests.conftest import write_project
    from tests.test_snapshots import _record

    project = write_project(tmp_path / "proj")
    book = PlanBook(project, "hypotheses.md")
    book.reload()
    old = _record("h1-000001", "H1", "failed", 100.0, ended_at=150.0)
    new = _record("h1-000002", "H1", "succeeded", 200.0, ended_at=250.0)
    active = replace(_record("h3-000003", "H3", "running", 300.0), ended_at=None)
    runs = [active, new, old]  # newest first
    entries = book.entries
    assert choose_shown(entries, runs, "hypotheses.md:H1") == (new, "latest of 2 runs of H1")
    assert choose_shown(entries, runs, "hypotheses.md:H3") == (active, "")
    assert choose_shown(entries, runs, "hypotheses.md:H2") == (None, "")  # not the active one
    assert choose_shown(entries, runs, None) == (active, "the active run")
    assert choose_shown(entries, [new, old], None) == (new, "the newest run")
    opened = choose_shown(entries, runs, "hypotheses.md:H1", opened=old)
    assert opened == (old, "opened from the runs view (move the cursor to go back)")


async def test_stop_on_a_hypothesis_without_a_run_offers_nothing(tmp_path: Path) -> None:
    from cockpit.ui.screens.confirm import ConfirmScreen
    from tests.test_snapshots import make_app

    app = make_app(tmp_path, read_only=False)
    log = MessageLog()
    async with app.run_test(size=(100, 30), message_hook=log.hook) as pilot:
        await settled(app)
        screen = screen_of(app)
        screen.query_one(HypothesisList).select_key("hypotheses.md:H2")  # no run; H5 runs
        await log.until(lambda: screen.selection.highlighted == "hypotheses.md:H2")
        assert screen.shown is None
        header = str(screen.query_one("#run-header").render())
        assert header == "H2 has no run yet — l launches it"
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)  # nothing to stop on screen
        assert any("no active run on screen" in n.message for n in app.notices.history)
        screen.query_one(HypothesisList).select_key("hypotheses.md:H5")
        await log.until(lambda: screen.shown is not None and screen.shown.hypothesis == "H5")
        await pilot.press("s")
        await log.until(lambda: isinstance(app.screen, ConfirmScreen))
        assert "h5-" in str(app.screen.query_one("#confirm-body").render())


async def test_space_marks_hypotheses_and_l_launches_them_in_the_plans_order(
    tmp_path: Path,
) -> None:
    """Issue 20: marked with space (H3 first, then H1 and H2), launched with l in the plan's
    order; this machine has no GPU, so the local backend's one slot runs them one by one, the
    others queued meanwhile."""
    from tests.conftest import write_project

    project = write_project(tmp_path / "proj", top="max_parallel = 3\n")
    log = MessageLog()
    app = app_for(project)
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        await settled(app)
        listing = screen_of(app).query_one(HypothesisList)
        await pilot.press("down", "down", "space", "up", "up", "space", "down", "space")
        assert listing.marked == ("hypotheses.md:H1", "hypotheses.md:H2", "hypotheses.md:H3")
        await pilot.press("l")
        await log.until(lambda: len(log.of(RequestSent)) == 3)
        sent = [message.what for message in log.of(RequestSent)]
        assert sent == ["launch H1", "launch H2", "launch H3"]
        assert listing.marked == ()
        reader = StoreReader(ProjectPaths(project).db, read_only=True)
        await log.until(
            lambda: len(runs := reader.runs()) == 3 and not any(run.active for run in runs),
            timeout=120,
        )
        runs = sorted(reader.runs(), key=lambda run: run.started_at or 0)
        assert [run.hypothesis for run in runs] == ["H1", "H2", "H3"]  # one slot, plan order
        assert all(run.host == "local" for run in runs)
        queued = [event.run_id for event in reader.events(limit=200) if event.kind == "queue"]
        assert {"H2", "H3"} <= {run.hypothesis for run in runs if run.id in queued}
